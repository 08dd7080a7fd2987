package testutil

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// TimeColumn reports whether an NFStream column depends on when packets
// arrived (ids, timestamps, durations, inter-arrival times): these differ
// between a capture file and the same frames replayed live.
func TimeColumn(col string) bool {
	return col == "id" || strings.HasSuffix(col, "_seen_ms") || strings.HasSuffix(col, "_duration_ms") ||
		strings.Contains(col, "piat")
}

// FlowDiff is the result of [CompareFlowCSV].
type FlowDiff struct {
	Want, Got  int      // flows in each output
	Matched    int      // flows of want found in got by key
	Equal      int      // matched flows equal on every compared column
	Missing    []string // keys of want not in got
	Extra      []string // keys of got not in want
	Mismatches []string // "key column: want vs got", the first few
	Columns    map[string]int
}

// Exact reports whether both outputs have the same flows, all equal.
func (d *FlowDiff) Exact() bool {
	return d.Want == d.Got && d.Matched == d.Want && d.Equal == d.Want
}

func (d *FlowDiff) String() string {
	var cols []string
	for c, n := range d.Columns {
		cols = append(cols, fmt.Sprintf("%s:%d", c, n))
	}
	sort.Strings(cols)
	s := fmt.Sprintf("want %d flows, got %d, matched %d, equal %d", d.Want, d.Got, d.Matched, d.Equal)
	if len(cols) > 0 {
		s += "; differing columns " + strings.Join(cols, " ")
	}
	for _, m := range d.Mismatches {
		s += "\n  " + m
	}
	for i, k := range d.Missing {
		if i == 5 {
			break
		}
		s += "\n  missing " + k
	}
	for i, k := range d.Extra {
		if i == 5 {
			break
		}
		s += "\n  extra " + k
	}
	return s
}

// keyColumns identify a flow in both outputs.
var keyColumns = []string{"src_ip", "src_port", "dst_ip", "dst_port", "protocol", "vlan_id", "tunnel_id"}

// CompareFlowCSV matches the flows of two NFStream CSV outputs by key
// (src/dst address and port, protocol, VLAN, tunnel) and compares every
// column for which skip returns false. Columns whose values are decimal
// floats compare within a relative tolerance of tol (statistics computed
// from sums instead of Welford's running mean differ by a few ulps).
func CompareFlowCSV(want, got []byte, skip func(col string) bool, tol float64) (*FlowDiff, error) {
	wh, wr, err := readFlowCSV(want)
	if err != nil {
		return nil, fmt.Errorf("want: %w", err)
	}
	gh, gr, err := readFlowCSV(got)
	if err != nil {
		return nil, fmt.Errorf("got: %w", err)
	}
	d := &FlowDiff{Columns: map[string]int{}}
	gIdx := map[string]int{}
	for i, c := range gh {
		gIdx[c] = i
	}
	wk, err := keysOf(wh, wr)
	if err != nil {
		return nil, err
	}
	gk, err := keysOf(gh, gr)
	if err != nil {
		return nil, err
	}
	d.Want, d.Got = len(wr), len(gr)
	byKey := map[string][]int{}
	for i, k := range gk {
		byKey[k] = append(byKey[k], i)
	}
	for i, k := range wk {
		cand := byKey[k]
		if len(cand) == 0 {
			d.Missing = append(d.Missing, k)
			continue
		}
		j := cand[0]
		byKey[k] = cand[1:]
		d.Matched++
		equal := true
		for ci, col := range wh {
			if skip != nil && skip(col) {
				continue
			}
			gi, ok := gIdx[col]
			if !ok {
				equal = false
				d.Columns[col+"(absent)"]++
				continue
			}
			a, b := wr[i][ci], gr[j][gi]
			if a == b || floatsClose(a, b, tol) {
				continue
			}
			equal = false
			d.Columns[col]++
			if len(d.Mismatches) < 8 {
				d.Mismatches = append(d.Mismatches, fmt.Sprintf("%s %s: want %q got %q", k, col, a, b))
			}
		}
		if equal {
			d.Equal++
		}
	}
	for k, rest := range byKey {
		for range rest {
			d.Extra = append(d.Extra, k)
		}
	}
	sort.Strings(d.Extra)
	return d, nil
}

func floatsClose(a, b string, tol float64) bool {
	if tol == 0 || !strings.ContainsAny(a, ".e") || !strings.ContainsAny(b, ".e") {
		return false
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	if x == y {
		return true
	}
	return math.Abs(x-y) <= tol*math.Max(math.Abs(x), math.Abs(y))
}

func readFlowCSV(data []byte) ([]string, [][]string, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return nil, nil, err
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("no header")
	}
	return recs[0], recs[1:], nil
}

func keysOf(header []string, rows [][]string) ([]string, error) {
	idx := make([]int, len(keyColumns))
	for i, c := range keyColumns {
		idx[i] = -1
		for j, h := range header {
			if h == c {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return nil, fmt.Errorf("no %s column", c)
		}
	}
	keys := make([]string, len(rows))
	for r, row := range rows {
		var b strings.Builder
		for i, j := range idx {
			if i > 0 {
				b.WriteByte('|')
			}
			if j < len(row) {
				b.WriteString(row[j])
			}
		}
		keys[r] = b.String()
	}
	return keys, nil
}
