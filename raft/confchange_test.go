package raft

import (
	"errors"
	"reflect"
	"testing"
)

func TestConfChangeRoundTrip(t *testing.T) {
	for _, cc := range []ConfChange{
		{Type: ConfChangeAddVoter, NodeID: 1},
		{Type: ConfChangeAddLearner, NodeID: 1 << 40, Context: []byte(`{"addr":"127.0.0.1:1"}`)},
		{Type: ConfChangeRemoveNode, NodeID: 7},
	} {
		var got ConfChange
		if err := got.Unmarshal(cc.Marshal()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, cc) {
			t.Errorf("round trip: got %+v, want %+v", got, cc)
		}
	}
	var cc ConfChange
	// ... and a padded node ID (1 as 0x81 0x00, with and without a
	// context): the same change must not have two encodings.
	for _, bad := range [][]byte{nil, {0}, {9, 1}, {0, 0x80}, {0, 0x81, 0x00}, {1, 0x87, 0x80, 0x00, '{', '}'}} {
		if err := cc.Unmarshal(bad); !errors.Is(err, ErrInvalidConfChange) {
			t.Errorf("Unmarshal(%v) err = %v, want ErrInvalidConfChange", bad, err)
		}
	}
}
