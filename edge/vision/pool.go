package vision

import (
	"fmt"
	"sync"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge"
)

// DNNPool shares a few loaded networks among a box's cameras: each camera's pipeline takes a
// Detector from it instead of loading a network of its own. A gocv Net is not safe for
// concurrent use, so a pass borrows one network, runs, copies its detections out and hands the
// network back; with fewer networks than cameras, cameras wait their turn. Safe for concurrent
// use; Close it after every Detector made from it is done.
type DNNPool struct {
	models *Models
	size   int
	mu     sync.Mutex
	nets   map[string]chan *DNN // per model: the idle networks
	all    []*DNN
}

// NewDNNPool returns a pool that loads at most size networks of each model, the first time a
// camera asks for that model (size < 1 means 1).
func NewDNNPool(m *Models, size int) *DNNPool {
	return &DNNPool{models: m, size: max(size, 1), nets: map[string]chan *DNN{}}
}

// Detector returns a detector for one camera backed by the pool's networks of model, which
// it loads (verified) on first use. minScore is the camera's own.
func (p *DNNPool) Detector(model string, minScore float64) (*PooledDNN, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.nets[model]
	if !ok {
		ch = make(chan *DNN, p.size)
		for range p.size {
			d, err := NewDNN(p.models, model, minScore)
			if err != nil {
				for len(ch) > 0 { // the ones loaded before the failure
					(<-ch).Close()
				}
				return nil, fmt.Errorf("pool: %w", err)
			}
			ch <- d
		}
		for range p.size {
			d := <-ch
			p.all = append(p.all, d)
			ch <- d
		}
		p.nets[model] = ch
	}
	return &PooledDNN{nets: ch, minScore: float32(minScore)}, nil
}

// Loaded returns how many networks the pool has loaded, over every model.
func (p *DNNPool) Loaded() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all)
}

// Close releases every network the pool loaded.
func (p *DNNPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.all {
		d.Close()
	}
	p.all, p.nets = nil, map[string]chan *DNN{}
}

// PooledDNN is one camera's detector over a DNNPool's networks. Not safe for concurrent use
// (one per camera); its Close leaves the networks to the pool.
type PooledDNN struct {
	nets     chan *DNN
	minScore float32
	dets     []edge.Detection
}

// Detect borrows a network (waiting while every one is busy), runs it at this camera's score
// threshold and returns the detections; the slice is owned by the PooledDNN and valid until
// the next call.
func (d *PooledDNN) Detect(frame gocv.Mat) []edge.Detection {
	n := <-d.nets
	n.minScore = d.minScore
	d.dets = append(d.dets[:0], n.Detect(frame)...)
	d.nets <- n
	return d.dets
}

// Close does nothing: the networks belong to the pool.
func (d *PooledDNN) Close() {}
