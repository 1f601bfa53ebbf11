// Package push wakes offline devices through the operator's push gateway:
// when an entry is queued for a device that has no session and registered a
// push token, the node calls Notify; the Service gathers notices for a
// short window (or until a batch is full) and POSTs one JSON batch of
// {device, token, platform, count} to the configured webhook, signed with
// HMAC-SHA256, retrying with exponential backoff.
//
// A notice never carries content, sender or message ids: only "device X
// has N new entries". Notify never blocks and the queue of notices is
// bounded (the oldest are dropped and counted), so a slow or dead gateway
// can never slow delivery.
//
// It owns the batching, the webhook format and its signature. It must not
// touch queues or sessions: it learns about tokens and presence only
// through the functions in Config.
package push
