package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/store"
)

// inviteFixtures stores one invite in each state and returns them by code.
func inviteFixtures(t *testing.T, s store.Store) map[string]store.Invite {
	t.Helper()
	ctx := context.Background()
	invs := []store.Invite{
		{Code: "valid-code", CreatedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(time.Hour)},
		{Code: "forever-code", CreatedAt: t0.Add(-time.Hour)},
		{Code: "used-code", CreatedAt: t0.Add(-time.Hour)},
		{Code: "revoked-code", CreatedAt: t0.Add(-time.Hour)},
		{Code: "expired-code", CreatedAt: t0.Add(-2 * time.Hour), ExpiresAt: t0.Add(-time.Minute)},
	}
	out := make(map[string]store.Invite)
	for _, inv := range invs {
		noErr(t, "CreateInvite "+inv.Code, s.CreateInvite(ctx, inv))
		out[inv.Code] = inv
	}
	noErr(t, "UseInvite used-code", s.UseInvite(ctx, "used-code", "someone", t0.Add(-time.Minute)))
	noErr(t, "RevokeInvite revoked-code", s.RevokeInvite(ctx, "revoked-code"))
	inv := out["used-code"]
	inv.UsedBy = "someone"
	out["used-code"] = inv
	inv = out["revoked-code"]
	inv.Revoked = true
	out["revoked-code"] = inv
	return out
}

// checkInvites compares the stored invites with want, ignoring order.
func checkInvites(t *testing.T, s store.Store, want map[string]store.Invite) {
	t.Helper()
	got, err := s.Invites(context.Background())
	noErr(t, "Invites", err)
	if len(got) != len(want) {
		t.Fatalf("Invites = %d, want %d", len(got), len(want))
	}
	for _, g := range got {
		w, ok := want[g.Code]
		if !ok {
			t.Fatalf("Invites has unexpected %+v", g)
		}
		if err := sameInvite(g, w); err != nil {
			t.Fatalf("Invites: %v", err)
		}
	}
}

func testInvites(t *testing.T, fresh func(*testing.T) store.Store) {
	ctx := context.Background()

	t.Run("CreateList", func(t *testing.T) {
		s := fresh(t)
		checkInvites(t, s, inviteFixtures(t, s))
	})

	t.Run("CreateExistingRefused", func(t *testing.T) {
		s := fresh(t)
		want := inviteFixtures(t, s)
		err := s.CreateInvite(ctx, store.Invite{Code: "used-code", CreatedAt: t0})
		if err == nil {
			t.Fatal("CreateInvite of an existing code succeeded")
		}
		checkInvites(t, s, want) // the used invite was not revived
	})

	t.Run("Use", func(t *testing.T) {
		for _, tc := range []struct {
			code string
			want error
		}{
			{"valid-code", nil},
			{"forever-code", nil},
			{"used-code", store.ErrInviteInvalid},
			{"revoked-code", store.ErrInviteInvalid},
			{"expired-code", store.ErrInviteInvalid},
			{"unknown-code", store.ErrInviteInvalid},
		} {
			t.Run(tc.code, func(t *testing.T) {
				s := fresh(t)
				want := inviteFixtures(t, s)
				err := s.UseInvite(ctx, tc.code, "newbie", t0)
				if tc.want == nil {
					noErr(t, "UseInvite", err)
					inv := want[tc.code]
					inv.UsedBy = "newbie"
					want[tc.code] = inv
					wantErr(t, "second UseInvite", s.UseInvite(ctx, tc.code, "other", t0), store.ErrInviteInvalid)
				} else {
					wantErr(t, "UseInvite", err, tc.want)
				}
				checkInvites(t, s, want)
			})
		}
	})

	t.Run("RevokeUnknown", func(t *testing.T) {
		s := fresh(t)
		wantErr(t, "RevokeInvite", s.RevokeInvite(ctx, "no-such-code"), store.ErrNotFound)
	})

	t.Run("CreateAccountConsumes", func(t *testing.T) {
		for _, tc := range []struct {
			code string
			want error
		}{
			{"valid-code", nil},
			{"forever-code", nil},
			{"used-code", store.ErrInviteInvalid},
			{"revoked-code", store.ErrInviteInvalid},
			{"expired-code", store.ErrInviteInvalid},
			{"unknown-code", store.ErrInviteInvalid},
		} {
			t.Run(tc.code, func(t *testing.T) {
				s := fresh(t)
				want := inviteFixtures(t, s)
				d := device("newbie", 1)
				err := s.CreateAccount(ctx, account("newbie"), d, tc.code)
				if tc.want == nil {
					noErr(t, "CreateAccount", err)
					inv := want[tc.code]
					inv.UsedBy = "newbie"
					want[tc.code] = inv
					_, err := s.Account(ctx, "newbie")
					noErr(t, "Account", err)
				} else {
					wantErr(t, "CreateAccount", err, tc.want)
					_, err := s.Account(ctx, "newbie")
					wantErr(t, "Account after refused invite", err, store.ErrNotFound)
					_, err = s.DeviceByKey(ctx, d.NoiseKey)
					wantErr(t, "DeviceByKey after refused invite", err, store.ErrNotFound)
				}
				checkInvites(t, s, want)
			})
		}
	})

	t.Run("ExpiryIsJudgedAtCreatedAt", func(t *testing.T) {
		s := fresh(t)
		noErr(t, "CreateInvite", s.CreateInvite(ctx, store.Invite{Code: "soon", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}))
		late := account("latecomer")
		late.CreatedAt = t0.Add(2 * time.Minute)
		wantErr(t, "CreateAccount after expiry", s.CreateAccount(ctx, late, device("latecomer", 1), "soon"), store.ErrInviteInvalid)
		early := account("early")
		early.CreatedAt = t0.Add(30 * time.Second)
		noErr(t, "CreateAccount before expiry", s.CreateAccount(ctx, early, device("early", 1), "soon"))
	})

	t.Run("HandleTakenDoesNotConsume", func(t *testing.T) {
		s := fresh(t)
		register(t, s, "alice")
		want := inviteFixtures(t, s)
		d := device("alice", 1)
		d.NoiseKey = sha256.Sum256([]byte("another key"))
		wantErr(t, "CreateAccount", s.CreateAccount(ctx, account("alice"), d, "valid-code"), store.ErrHandleTaken)
		checkInvites(t, s, want)
	})

	t.Run("ConcurrentUseOfOneInvite", func(t *testing.T) {
		s := fresh(t)
		noErr(t, "CreateInvite", s.CreateInvite(ctx, store.Invite{Code: "one-shot", CreatedAt: t0}))
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				h := fmt.Sprintf("racer%d", i)
				errs[i] = s.CreateAccount(ctx, account(h), device(h, 1), "one-shot")
			})
		}
		wg.Wait()
		var winners []string
		for i, err := range errs {
			h := fmt.Sprintf("racer%d", i)
			_, aerr := s.Account(ctx, h)
			switch {
			case err == nil:
				winners = append(winners, h)
				noErr(t, "Account of winner", aerr)
			case errors.Is(err, store.ErrInviteInvalid):
				wantErr(t, "Account of loser "+h, aerr, store.ErrNotFound)
			default:
				t.Errorf("%s: %v, want nil or ErrInviteInvalid", h, err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("invite used by %v, want exactly one", winners)
		}
		invs, err := s.Invites(ctx)
		noErr(t, "Invites", err)
		if i := slices.IndexFunc(invs, func(v store.Invite) bool { return v.Code == "one-shot" }); i < 0 || invs[i].UsedBy != winners[0] {
			t.Fatalf("invite = %+v, want used by %s", invs, strings.Join(winners, ","))
		}
	})
}
