package push

import "errors"

// ErrGateway is wrapped by a webhook call the gateway refused or that
// failed in transit; the Service retries it.
var ErrGateway = errors.New("push: gateway call failed")

// ErrConfig is returned by New for an unusable Config.
var ErrConfig = errors.New("push: bad config")
