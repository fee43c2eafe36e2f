package mqtt

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Writes from several goroutines arrive whole and in each writer's order; Close sends what is
// still pending before it closes.
func TestCoalescingConnKeepsEveryWrite(t *testing.T) {
	a, b := net.Pipe()
	c := newCoalescingConn(a)
	got := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(b)
		got <- all
	}()
	const writers, each = 4, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// A 3-byte record: writer, then the sequence number.
				if _, err := c.Write([]byte{byte(w), byte(i >> 8), byte(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c.Write(bytes.Repeat([]byte{9}, 3)) // the last write, pending at Close
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	all := <-got
	if len(all) != 3*(writers*each+1) {
		t.Fatalf("%d bytes arrived, want %d", len(all), 3*(writers*each+1))
	}
	next := make([]int, writers)
	for r := 0; r < len(all)-3; r += 3 {
		w, i := int(all[r]), int(all[r+1])<<8|int(all[r+2])
		if w >= writers || i != next[w] {
			t.Fatalf("record %d: writer %d sequence %d, want %d", r/3, w, i, next[min(w, writers-1)])
		}
		next[w]++
	}
	if !bytes.Equal(all[len(all)-3:], []byte{9, 9, 9}) {
		t.Fatal("the write pending at Close was lost")
	}
}

// A write that fails makes every later Write fail with that error, and a writer blocked on a
// full buffer is released by it.
func TestCoalescingConnReportsWriteErrors(t *testing.T) {
	a, b := net.Pipe()
	c := newCoalescingConn(a)
	defer c.Close()
	b.Close() // the peer is gone: the flusher's write fails
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = c.Write(make([]byte, 1024))
	}
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Write after the peer closed: %v, want %v", err, io.ErrClosedPipe)
	}
}
