package presence

import "testing"

func TestConnectDisconnect(t *testing.T) {
	r := New()
	var got []bool
	s := &Sub{Viewer: "alice", Push: func(_ string, on bool, _ int64) { got = append(got, on) }}
	r.Subscribe(s, []string{"bob", "bob", "carol"})
	if n := r.Subscribers("bob"); n != 1 {
		t.Fatalf("Subscribers(bob) = %d, want 1 (deduplicated)", n)
	}
	steps := []struct {
		connect    bool
		wantEdge   bool
		wantOnline bool
	}{
		{true, true, true},   // first device
		{true, false, true},  // second device: no change
		{false, false, true}, // one left
		{false, true, false}, // last left
	}
	for i, st := range steps {
		var edge bool
		var subs []*Sub
		if st.connect {
			edge, subs = r.Connect("bob")
		} else {
			edge, subs = r.Disconnect("bob")
		}
		if edge != st.wantEdge || r.Online("bob") != st.wantOnline {
			t.Fatalf("step %d: edge %v online %v, want %v %v", i, edge, r.Online("bob"), st.wantEdge, st.wantOnline)
		}
		if edge && (len(subs) != 1 || subs[0] != s) {
			t.Fatalf("step %d: subscribers %v", i, subs)
		}
	}
	r.Subscribe(s, nil)
	if r.Subscribers("bob") != 0 || r.Subscribers("carol") != 0 {
		t.Fatal("replacing with nothing left subscriptions behind")
	}
	if _, subs := r.Connect("bob"); len(subs) != 0 {
		t.Fatalf("unsubscribed viewer still told: %v", subs)
	}
}
