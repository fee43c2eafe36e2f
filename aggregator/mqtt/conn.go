package mqtt

import (
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// maxPending is how many written bytes may wait for the socket before Write blocks.
const maxPending = 64 << 10

// dialCoalescing dials a plain TCP broker and returns a connection whose writes coalesce.
func dialCoalescing(u *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	c, err := d.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	return newCoalescingConn(c), nil
}

// coalescingConn sends what paho writes from one goroutine, in as few syscalls as the socket
// allows. paho writes every packet on its own: at tens of thousands of messages per second the
// PUBACK for each received message was one write(2) each, a tenth of the aggregator's CPU.
// Write copies and returns; a flusher writes everything pending in one call, so writes that
// arrive while a flush is in progress go out together and a lone write goes out at once (no
// timer, no added latency when idle). Write blocks while maxPending bytes wait (back-pressure as
// with a plain socket) and returns the first write error for good.
type coalescingConn struct {
	net.Conn
	mu      sync.Mutex
	cond    *sync.Cond // signalled when pending shrinks, an error occurs or the conn closes
	pending []byte
	err     error
	closing bool
	wake    chan struct{} // capacity 1: the flusher has work
	done    chan struct{} // closed when the flusher has written everything and exited
}

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	cc.cond = sync.NewCond(&cc.mu)
	go cc.flush()
	return cc
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && !c.closing && len(c.pending) > 0 && len(c.pending)+len(p) > maxPending {
		c.cond.Wait()
	}
	switch {
	case c.err != nil:
		err := c.err
		c.mu.Unlock()
		return 0, err
	case c.closing:
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	c.pending = append(c.pending, p...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *coalescingConn) flush() {
	defer close(c.done)
	var out []byte
	for {
		c.mu.Lock()
		for len(c.pending) == 0 && !c.closing && c.err == nil {
			c.mu.Unlock()
			<-c.wake
			c.mu.Lock()
		}
		if c.err != nil || len(c.pending) == 0 { // closing with nothing left
			c.mu.Unlock()
			return
		}
		out, c.pending = c.pending, out[:0]
		c.cond.Broadcast()
		c.mu.Unlock()
		if _, err := c.Conn.Write(out); err != nil {
			c.mu.Lock()
			c.err = err
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
	}
}

// Close sends what is pending (paho's DISCONNECT, say), waiting up to a second, then closes.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	c.closing = true
	c.cond.Broadcast()
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
	return c.Conn.Close()
}
