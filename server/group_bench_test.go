package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
	"github.com/parley-im/parley/store/pebble"
)

// ackAll reads c until it closes, acknowledging every queued delivery in
// bursts; each GroupSend's SendAck is signalled on acks (if not nil).
func ackAll(c *servertest.RawConn, acks chan<- struct{}) {
	c.Timeout = time.Hour
	for {
		f, err := c.Read()
		if err != nil {
			return
		}
		switch {
		case f.GetDeliver() != nil && f.GetDeliver().Seq != 0:
			_ = c.Write(ack(f.GetDeliver().Seq))
		case f.GetSendAck() != nil && acks != nil:
			acks <- struct{}{}
		case f.GetError() != nil:
			panic(fmt.Sprintf("group send failed: %v", f.GetError()))
		}
	}
}

// BenchmarkGroupFanout measures one GroupSend to a 1,024-member group (one
// device each): the node checks the device set and writes 1,023 queue
// entries in one synced batch before SendAck. online= is how many members
// are connected, receiving and acknowledging (each ack also queues a
// receipt for the sender); the rest are offline, so the durable fan-out
// dominates. Sends go one at a time (the next after the SendAck).
// Reported: deliveries/s = queue entries written per second of wall time;
// cpu-µs/delivery = process CPU (getrusage; the in-process clients' share
// included) per entry.
func BenchmarkGroupFanout(b *testing.B) {
	const size = 1024
	for _, online := range []int{0, 100} {
		b.Run(fmt.Sprintf("members=%d/online=%d", size, online), func(b *testing.B) {
			n := servertest.Start(b, server.Config{RegisterRate: -1, MaxFanout: -1})
			st, _ := server.StoreOf(n.Node).(interface{ Stats() pebble.Stats })
			stats := func() pebble.Stats {
				if st == nil {
					return pebble.Stats{}
				}
				return st.Stats()
			}
			conns := registerMany(b, n, "member", size)
			sender := conns[0]
			for i, c := range conns[1:] {
				if i < online {
					go ackAll(c, nil)
				} else {
					c.Close()
				}
			}
			var names []string
			for i := 1; i < size; i++ {
				names = append(names, fmt.Sprintf("member%d", i))
			}
			r := call(b, sender, &pb.GroupCreate{Name: "big", Members: names[:255]})
			gid := r.GetGroupInfo().GetGroupId()
			for i := 255; i < len(names); i += 256 {
				call(b, sender, &pb.GroupUpdate{GroupId: gid, Add: names[i:min(i+256, len(names))]})
			}
			var devs []*pb.DeviceRef
			for _, u := range names {
				devs = append(devs, &pb.DeviceRef{User: u, DeviceId: 1})
			}
			acks := make(chan struct{}, 1)
			sender.Pushed = nil
			go ackAll(sender, acks)
			body := make([]byte, 200)
			st0, cpu0 := stats(), cpuTime()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				f := &pb.ClientFrame{Id: sender.NextID(), Body: &pb.ClientFrame_GroupSend{GroupSend: &pb.GroupSend{
					MessageId: servertest.MessageID(), GroupId: gid, Body: body, Devices: devs,
				}}}
				if err := sender.Write(f); err != nil {
					b.Fatal(err)
				}
				<-acks
			}
			elapsed := time.Since(start)
			b.StopTimer()
			st1, cpu1 := stats(), cpuTime()
			deliveries := float64(b.N * (size - 1))
			b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/deliveries, "cpu-µs/delivery")
			b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/send")
			if st != nil {
				b.ReportMetric(float64(st1.Syncs-st0.Syncs)/float64(b.N), "syncs/send")
			}
		})
	}
}
