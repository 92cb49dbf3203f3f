package histories

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseEDN(t *testing.T) {
	src := `; comment
{:a 1, :b/c "s\"\n\u00e9", :d [nil true false -3 +4 2.5 12N 99999999999999999999]
 :e #{:x} :f (1 2) #_ :dropped :g \a :h \newline [1 2] :vec-key
 :t #inst "2020-01-01" :r #jepsen.history.Op{:index 0}}
:kw sym`
	forms, err := ParseEDN(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(forms) != 3 {
		t.Fatalf("%d forms: %v", len(forms), forms)
	}
	big20, _ := new(big.Int).SetString("99999999999999999999", 10)
	want := Map{
		{Keyword("a"), int64(1)},
		{Keyword("b/c"), "s\"\n\u00e9"},
		{Keyword("d"), Vector{nil, true, false, int64(-3), int64(4), 2.5, int64(12), big20}},
		{Keyword("e"), Set{Keyword("x")}},
		{Keyword("f"), List{int64(1), int64(2)}},
		{Keyword("g"), Char('a')},
		{Keyword("h"), Char('\n')},
		{Vector{int64(1), int64(2)}, Keyword("vec-key")},
		{Keyword("t"), Tagged{"inst", "2020-01-01"}},
		{Keyword("r"), Tagged{"jepsen.history.Op", Map{{Keyword("index"), int64(0)}}}},
	}
	if !reflect.DeepEqual(forms[0], want) {
		t.Fatalf("got  %#v\nwant %#v", forms[0], want)
	}
	if forms[1] != Keyword("kw") || forms[2] != Symbol("sym") {
		t.Fatalf("tail forms %#v", forms[1:])
	}
	more, err := ParseEDN(`[1/4 ##Inf ##-Inf 1e3 -2.5M #uuid "x"]`)
	if err != nil {
		t.Fatal(err)
	}
	v := more[0].(Vector)
	if v[0] != 0.25 || !math.IsInf(v[1].(float64), 1) || !math.IsInf(v[2].(float64), -1) || v[3] != 1000.0 || v[4] != -2.5 || v[5] != (Tagged{"uuid", "x"}) {
		t.Fatalf("numbers %#v", v)
	}
	if v, ok := want.Get("a"); !ok || v != int64(1) {
		t.Fatal("Map.Get")
	}
}

func TestParseEDNErrors(t *testing.T) {
	for _, src := range []string{`{:a 1`, `{:a}`, `"abc`, `]`, `[1 2)`, `"\q"`, `#`, `\unknownchar`, `##Foo`, `1/x`} {
		if _, err := ParseEDN(src); !errors.Is(err, ErrEDN) {
			t.Errorf("ParseEDN(%q) = %v, want ErrEDN", src, err)
		}
	}
	_, err := ParseEDN("[1\n2\n{:a}]")
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error %v does not give line 3", err)
	}
}

func TestEDNRoundTrip(t *testing.T) {
	want := sampleEvents()
	var buf bytes.Buffer
	if err := WriteEDN(&buf, want); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `{:index 0, :type :invoke, :f :write, :value ["x" "1"], :process 0, :time 10, :node "n1"}`) {
		t.Fatalf("unexpected EDN:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), `:f :start-partition-halves, :value ["n1" "n2"], :process :nemesis`) {
		t.Fatalf("unexpected nemesis EDN:\n%s", buf.String())
	}
	got, err := ReadEDN(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		for i := range want {
			if i < len(got) && !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
}

func TestReadEDNJepsenIndependent(t *testing.T) {
	f, err := os.Open("testdata/jepsen-independent.edn")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := ReadEDN(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 18 {
		t.Fatalf("%d events, want 18", len(evs))
	}
	cas := evs[6]
	if cas.F != OpCas || cas.Key != "0" || *cas.Expected != "1" || *cas.Value != "2" || cas.Process != 2 || cas.Time != 4000000 {
		t.Fatalf("cas invoke %+v", cas)
	}
	if evs[9].Type != Info || evs[9].Error != "timeout" {
		t.Fatalf("cas info %+v", evs[9])
	}
	if evs[1].F != OpGet || evs[1].Value != nil || evs[3].Found == nil || !*evs[3].Found || *evs[3].Value != "1" {
		t.Fatalf("reads %+v %+v", evs[1], evs[3])
	}
	if evs[4].Kind != KindNemesis || evs[4].Type != Start || evs[4].F != "nemesis" {
		t.Fatalf("nemesis start %+v", evs[4])
	}
	if !strings.Contains(evs[5].Detail, ":isolated") {
		t.Fatalf("nemesis detail %+v", evs[5])
	}
	ws := FaultWindows(evs)
	if len(ws) != 1 || ws[0].Start != 3000000 || ws[0].End != 10000000 {
		t.Fatalf("windows %+v", ws)
	}
	ops, err := Pair(evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 7 {
		t.Fatalf("%d ops, want 7", len(ops))
	}
}

func TestReadEDNSingleRegister(t *testing.T) {
	f, err := os.Open("testdata/knossos-single.edn")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := ReadEDN(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 8 {
		t.Fatalf("%d events", len(evs))
	}
	for i, e := range evs {
		if e.Key != SingleRegisterKey || e.Time != int64(i) {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if evs[4].F != OpCas || *evs[4].Expected != "1" || *evs[4].Value != "4" {
		t.Fatalf("cas %+v", evs[4])
	}
	if evs[1].Value != nil || evs[1].Found != nil {
		t.Fatalf("read invoke %+v", evs[1])
	}
}

func TestReadEDNRejects(t *testing.T) {
	for _, src := range []string{
		`{:type :invoke, :f :add, :value 1, :process 0}`,
		`{:type :invoke, :f :read, :value nil}`,
		`{:type :bogus, :f :read, :value nil, :process 0}`,
		`{:type :invoke, :f :write, :value [1 2], :process 0} {:type :invoke, :f :write, :value 3, :process 1}`,
		`[1 2 3]`,
	} {
		if _, err := ReadEDN(strings.NewReader(src)); !errors.Is(err, ErrEDN) {
			t.Errorf("ReadEDN(%q) = %v, want ErrEDN", src, err)
		}
	}
}

func TestReadEDNTopLevelList(t *testing.T) {
	src := `; a Knossos-style list of ops
({:type :invoke, :f :write, :value 0, :process 0}
 {:type :ok, :f :write, :value 0, :process 0})`
	evs, err := ReadEDN(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].Type != OK || *evs[1].Value != "0" || evs[1].Key != SingleRegisterKey || evs[1].Time != 1 {
		t.Fatalf("%+v", evs)
	}
}
