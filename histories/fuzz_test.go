package histories

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseEDN: the reader never panics, and what it reads prints back to
// text that reads the same.
func FuzzParseEDN(f *testing.F) {
	for _, s := range []string{`{:a [1 "x" nil]}`, `#{:a} (1 2) \c`, `#_ 1 2`, `"\u00e9\n"`, `[0 [1 2]]`, `#tag {:k v}`, `;c`, `12N 3.5 -7`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		forms, err := ParseEDN(src)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, v := range forms {
			b.WriteString(FormatEDN(v))
			b.WriteByte('\n')
		}
		again, err := ParseEDN(b.String())
		if err != nil {
			t.Fatalf("printed form %q does not read: %v", b.String(), err)
		}
		if len(again) != len(forms) {
			t.Fatalf("%d forms read back as %d", len(forms), len(again))
		}
	})
}

// FuzzEDNRoundTrip: any op event survives WriteEDN then ReadEDN.
func FuzzEDNRoundTrip(f *testing.F) {
	f.Add(0, "k", "v", "e", true, int64(5), uint8(0))
	f.Add(3, "a b", "", "\x00\"", false, int64(-1), uint8(3))
	f.Fuzz(func(t *testing.T, proc int, key, val, exp string, found bool, at int64, which uint8) {
		if key == "" {
			key = "k"
		}
		var e Event
		switch which % 4 {
		case 0:
			e = Event{Kind: KindOp, Type: OK, F: OpGet, Key: key, Value: Str(val), Found: Bool(true)}
		case 1:
			e = Event{Kind: KindOp, Type: Invoke, F: OpPut, Key: key, Value: Str(val)}
		case 2:
			e = Event{Kind: KindOp, Type: Fail, F: OpCas, Key: key, Value: Str(val), Expected: Str(exp), Error: val}
		default:
			e = Event{Kind: KindOp, Type: OK, F: OpDelete, Key: key, Found: Bool(found), Node: exp}
		}
		e.Process, e.Time = proc, at
		var buf bytes.Buffer
		if err := WriteEDN(&buf, []Event{e}); err != nil {
			t.Fatal(err)
		}
		got, err := ReadEDN(&buf)
		if err != nil {
			t.Fatalf("%v reading %q", err, buf.String())
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], e) {
			t.Fatalf("got %+v, want %+v (edn %q)", got, e, buf.String())
		}
	})
}

// FuzzRead: the JSONL reader never panics and only returns valid events.
func FuzzRead(f *testing.F) {
	f.Add("{\"kind\":\"header\",\"version\":1}\n{\"kind\":\"op\",\"type\":\"invoke\",\"f\":\"get\"}\n")
	f.Add("{\"kind\":\"header\",\"version\":1}\n{bad\n")
	f.Fuzz(func(t *testing.T, src string) {
		_, evs, _ := Read(strings.NewReader(src))
		for _, e := range evs {
			if err := e.Validate(); err != nil {
				t.Fatalf("invalid event returned: %v", err)
			}
		}
	})
}
