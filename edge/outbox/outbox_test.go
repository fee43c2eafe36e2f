package outbox

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crosswatch/crosswatch/edge"
)

func TestAppendPendingDeleteSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []edge.Message{{ID: "a", Topic: "t", Payload: []byte("1")}, {ID: "b", Topic: "t", Payload: []byte("22")}, {ID: "c", Topic: "t", Payload: []byte("3")}}
	if err := o.Append(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := o.Append(ctx, msgs[0]); err != nil { // a re-append of a queued id is a no-op
		t.Fatal(err)
	}
	got, err := o.Pending(ctx, 0, 10, nil)
	if err != nil || len(got) != 3 || got[0].ID != "a" || got[2].ID != "c" {
		t.Fatalf("pending %+v %v", got, err)
	}
	if more, _ := o.Pending(ctx, got[1].Seq, 10, nil); len(more) != 1 || more[0].ID != "c" {
		t.Fatalf("after cursor: %+v", more)
	}
	if n, err := o.Delete(ctx, []string{"b", "zz"}); n != 1 || err != nil {
		t.Fatalf("delete %d %v", n, err)
	}
	o.Close()
	o, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	st, err := o.Stats(ctx)
	if err != nil || st.Rows != 2 || st.Bytes != 2 || st.Oldest.IsZero() {
		t.Fatalf("stats %+v %v", st, err)
	}
}
