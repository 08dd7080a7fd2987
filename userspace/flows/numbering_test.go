package flows_test

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

func TestNumbering(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		max       uint64
		stopAfter int   // the consumer stops after this many flows (0: never)
		fail      error // the producer fails after 5 flows
		wantIDs   []uint64
		wantErr   bool
	}{
		{"unlimited", 0, 0, nil, []uint64{0, 1, 2, 3, 4, 5, 6}, false},
		{"max_nflows", 3, 0, nil, []uint64{0, 1, 2}, false},
		{"consumer stops", 0, 2, nil, []uint64{0, 1}, false},
		{"error yielded", 0, 0, errBoom, []uint64{0, 1, 2, 3, 4}, true},
		{"error after max_nflows dropped", 5, 0, errBoom, []uint64{0, 1, 2, 3, 4}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN a numbering over a consumer that records what it gets
			var (
				ids   []uint64
				errs  []error
				count atomic.Uint64
			)
			yield := func(f *flows.Flow, err error) bool {
				if err != nil {
					errs = append(errs, err)
					return false
				}
				ids = append(ids, f.ID)
				return tt.stopAfter == 0 || len(ids) < tt.stopAfter
			}
			n := flows.NewNumbering(yield, tt.max, &count)
			// WHEN a producer yields 5 flows (and fails, or tries 2 more)
			more := 0
			for range 5 {
				if n.Yield(&flows.Flow{ID: 99}) {
					more++
				}
			}
			if tt.fail != nil {
				n.Fail(tt.fail)
			} else {
				n.Yield(&flows.Flow{})
				n.Yield(&flows.Flow{})
			}
			// THEN the flows are numbered from 0 and none passes the end
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("ids %v, want %v", ids, tt.wantIDs)
			}
			if got := count.Load(); got != uint64(len(tt.wantIDs)) {
				t.Errorf("count %d, want %d", got, len(tt.wantIDs))
			}
			if (len(errs) == 1) != tt.wantErr || len(errs) > 1 {
				t.Errorf("errors %v, want error: %v", errs, tt.wantErr)
			}
			if stopped := tt.max > 0 || tt.stopAfter > 0 || tt.fail != nil; n.Stopped() != stopped {
				t.Errorf("Stopped() = %v, want %v", n.Stopped(), stopped)
			}
		})
	}
}
