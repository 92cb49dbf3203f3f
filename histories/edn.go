package histories

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrEDN is wrapped by every EDN syntax error.
var ErrEDN = errors.New("histories: edn")

// The EDN values the reader produces. Integers are int64 (or *big.Int when
// they do not fit), floats, ratios and ##Inf/##NaN float64, strings
// string, nil nil, booleans bool.
type (
	// Keyword is an EDN keyword without its leading colon (":f" -> "f").
	Keyword string
	// Symbol is an EDN symbol.
	Symbol string
	// Char is an EDN character literal (\a).
	Char rune
	// Vector is an EDN vector [a b].
	Vector []any
	// List is an EDN list (a b).
	List []any
	// Set is an EDN set #{a b}.
	Set []any
	// Map is an EDN map {k v}, in source order (keys may be vectors, so it
	// is not a Go map).
	Map []MapEntry
	// Tagged is a tagged element #tag value, e.g. #inst "..." or a record
	// such as #jepsen.history.Op{...}.
	Tagged struct {
		Tag   string
		Value any
	}
)

// MapEntry is one key/value pair of a Map.
type MapEntry struct{ Key, Value any }

// Get returns the value of keyword key in m.
func (m Map) Get(key string) (any, bool) {
	for _, e := range m {
		if k, ok := e.Key.(Keyword); ok && string(k) == key {
			return e.Value, true
		}
	}
	return nil, false
}

// ednReader is a recursive-descent reader over the whole input.
type ednReader struct {
	src  string
	pos  int
	line int
}

// ParseEDN reads every top-level EDN form in src.
func ParseEDN(src string) ([]any, error) {
	r := &ednReader{src: src, line: 1}
	var out []any
	for {
		r.skipSpace()
		if r.pos >= len(r.src) {
			return out, nil
		}
		v, discard, err := r.read()
		if err != nil {
			return nil, err
		}
		if !discard {
			out = append(out, v)
		}
	}
}

// ReadEDNForms reads every top-level EDN form from rd.
func ReadEDNForms(rd io.Reader) ([]any, error) {
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("histories: read edn: %w", err)
	}
	return ParseEDN(string(b))
}

func (r *ednReader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrEDN, r.line, fmt.Sprintf(format, args...))
}

func (r *ednReader) skipSpace() {
	for r.pos < len(r.src) {
		c := r.src[r.pos]
		switch {
		case c == '\n':
			r.line++
			r.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '\f':
			r.pos++
		case c == ';':
			for r.pos < len(r.src) && r.src[r.pos] != '\n' {
				r.pos++
			}
		default:
			return
		}
	}
}

// read reads one form. discard is true for a #_ form, which the caller
// drops.
func (r *ednReader) read() (v any, discard bool, err error) {
	r.skipSpace()
	if r.pos >= len(r.src) {
		return nil, false, r.errorf("unexpected end of input")
	}
	c := r.src[r.pos]
	switch c {
	case '[':
		r.pos++
		items, err := r.readSeq(']')
		return Vector(items), false, err
	case '(':
		r.pos++
		items, err := r.readSeq(')')
		return List(items), false, err
	case '{':
		r.pos++
		m, err := r.readMap()
		return m, false, err
	case ']', ')', '}':
		return nil, false, r.errorf("unexpected %q", c)
	case '"':
		s, err := r.readString()
		return s, false, err
	case ':':
		r.pos++
		tok := r.token()
		if tok == "" {
			return nil, false, r.errorf("empty keyword")
		}
		return Keyword(tok), false, nil
	case '\\':
		r.pos++
		return r.readChar()
	case '#':
		return r.readDispatch()
	}
	tok := r.token()
	if tok == "" {
		return nil, false, r.errorf("unexpected character %q", c)
	}
	v, err = r.atom(tok)
	return v, false, err
}

func (r *ednReader) readSeq(closer byte) ([]any, error) {
	var items []any
	for {
		r.skipSpace()
		if r.pos >= len(r.src) {
			return nil, r.errorf("missing %q", closer)
		}
		if r.src[r.pos] == closer {
			r.pos++
			return items, nil
		}
		v, discard, err := r.read()
		if err != nil {
			return nil, err
		}
		if !discard {
			items = append(items, v)
		}
	}
}

func (r *ednReader) readMap() (Map, error) {
	items, err := r.readSeq('}')
	if err != nil {
		return nil, err
	}
	if len(items)%2 != 0 {
		return nil, r.errorf("map with an odd number of forms")
	}
	m := make(Map, 0, len(items)/2)
	for i := 0; i < len(items); i += 2 {
		m = append(m, MapEntry{items[i], items[i+1]})
	}
	return m, nil
}

func (r *ednReader) readDispatch() (any, bool, error) {
	r.pos++ // '#'
	if r.pos >= len(r.src) {
		return nil, false, r.errorf("unexpected end after #")
	}
	switch r.src[r.pos] {
	case '{':
		r.pos++
		items, err := r.readSeq('}')
		return Set(items), false, err
	case '_':
		r.pos++
		_, _, err := r.read()
		return nil, true, err
	case '#': // symbolic values ##Inf, ##-Inf, ##NaN
		r.pos++
		switch tok := r.token(); tok {
		case "Inf":
			return math.Inf(1), false, nil
		case "-Inf":
			return math.Inf(-1), false, nil
		case "NaN":
			return math.NaN(), false, nil
		default:
			return nil, false, r.errorf("unknown symbolic value ##%s", tok)
		}
	}
	tag := r.token()
	if tag == "" {
		return nil, false, r.errorf("bad dispatch character %q", r.src[r.pos])
	}
	v, discard, err := r.read()
	if err != nil {
		return nil, false, err
	}
	if discard {
		return nil, false, r.errorf("tag #%s applied to a discarded form", tag)
	}
	return Tagged{Tag: tag, Value: v}, false, nil
}

func (r *ednReader) readString() (string, error) {
	start := r.line
	r.pos++ // opening quote
	var b strings.Builder
	for r.pos < len(r.src) {
		c := r.src[r.pos]
		switch c {
		case '"':
			r.pos++
			return b.String(), nil
		case '\n':
			r.line++
			b.WriteByte(c)
			r.pos++
		case '\\':
			r.pos++
			if r.pos >= len(r.src) {
				return "", r.errorf("unterminated escape")
			}
			e := r.src[r.pos]
			r.pos++
			switch e {
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '\\', '"', '\'':
				b.WriteByte(e)
			case 'u':
				if r.pos+4 > len(r.src) {
					return "", r.errorf("short \\u escape")
				}
				n, err := strconv.ParseUint(r.src[r.pos:r.pos+4], 16, 32)
				if err != nil {
					return "", r.errorf("bad \\u escape %q", r.src[r.pos:r.pos+4])
				}
				b.WriteRune(rune(n))
				r.pos += 4
			default:
				return "", r.errorf("unknown escape \\%c", e)
			}
		default:
			b.WriteByte(c)
			r.pos++
		}
	}
	return "", fmt.Errorf("%w: line %d: unterminated string", ErrEDN, start)
}

var namedChars = map[string]rune{"newline": '\n', "space": ' ', "tab": '\t', "return": '\r', "formfeed": '\f', "backspace": '\b'}

func (r *ednReader) readChar() (any, bool, error) {
	if r.pos >= len(r.src) {
		return nil, false, r.errorf("unexpected end after \\")
	}
	ch, size := utf8.DecodeRuneInString(r.src[r.pos:])
	r.pos += size
	rest := r.token()
	if rest == "" {
		return Char(ch), false, nil
	}
	name := string(ch) + rest
	if c, ok := namedChars[name]; ok {
		return Char(c), false, nil
	}
	if ch == 'u' && len(rest) == 4 {
		if n, err := strconv.ParseUint(rest, 16, 32); err == nil {
			return Char(rune(n)), false, nil
		}
	}
	return nil, false, r.errorf("unknown character \\%s", name)
}

// token reads a run of constituent characters (symbol, number, keyword
// body).
func (r *ednReader) token() string {
	start := r.pos
	for r.pos < len(r.src) {
		c, size := utf8.DecodeRuneInString(r.src[r.pos:])
		if unicode.IsSpace(c) || strings.ContainsRune(",;()[]{}\"\\", c) {
			break
		}
		r.pos += size
	}
	return r.src[start:r.pos]
}

func (r *ednReader) atom(tok string) (any, error) {
	switch tok {
	case "nil":
		return nil, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	c := tok[0]
	if c >= '0' && c <= '9' || (c == '-' || c == '+') && len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9' {
		return r.number(tok)
	}
	return Symbol(tok), nil
}

func (r *ednReader) number(tok string) (any, error) {
	s := strings.TrimPrefix(tok, "+")
	if strings.HasSuffix(s, "N") {
		s = strings.TrimSuffix(s, "N")
		n, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, r.errorf("bad integer %q", tok)
		}
		if n.IsInt64() {
			return n.Int64(), nil
		}
		return n, nil
	}
	if strings.Contains(s, "/") { // a Clojure ratio such as 1/3
		q, ok := new(big.Rat).SetString(s)
		if !ok {
			return nil, r.errorf("bad ratio %q", tok)
		}
		f, _ := q.Float64()
		return f, nil
	}
	if strings.HasSuffix(s, "M") || strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "M"), 64)
		if err != nil {
			return nil, r.errorf("bad number %q", tok)
		}
		return f, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if n, ok := new(big.Int).SetString(s, 10); ok {
		return n, nil
	}
	return nil, r.errorf("bad number %q", tok)
}
