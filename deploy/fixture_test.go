package deploy_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/api"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
	"github.com/crosswatch/crosswatch/aggregator/cli"
	"github.com/crosswatch/crosswatch/aggregator/ingest"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/edge/wire"
)

// aggregatorUnderTest is the shipped configuration's aggregator pieces as serve wires them, on
// a SQLite store in a temporary directory, after a tiny ingest: one event, one status, one dead
// letter, and one request through the instrumented API.
type aggregatorUnderTest struct {
	cfg *cli.Config
	tel *cli.Telemetry
	api http.Handler // the API (probes included) behind the HTTP metrics
}

type noAcks struct{}

func (noAcks) Ack(string, wire.Ack) error { return nil }

func newAggregator(t *testing.T) *aggregatorUnderTest {
	t.Helper()
	cfg, err := cli.LoadConfig("../configs/aggregator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load(cfg.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "aggregator.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.UpsertSites(ctx, cfg.Sites); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]aggregator.SiteKind{}
	for _, s := range cfg.Sites {
		kinds[s.ID] = s.Kind
	}
	if _, err := st.EnsureCatalog(ctx, cat, kinds); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var ing *ingest.Ingester
	tel := cli.NewTelemetry(cfg, cat, func() float64 { return float64(ing.QueueLen()) }, st.FindDevices)
	ing = ingest.New(st, noAcks{}, cat, cfg.Sites, ingest.DefaultConfig(), log, nil)
	ing.SetMetrics(tel.Ingest)

	site := cfg.Sites[0]
	cam := "cam-1"
	if len(site.Cameras) > 0 {
		cam = site.Cameras[0]
	}
	now := time.Now()
	ev, _ := wire.Encode(wire.Event{V: 1, ID: "deploy-test-1", Device: "edge-1", Camera: cam, Site: site.ID, Zone: "z",
		Type: cat.Entries[0].Type, Time: now.Add(-time.Minute), Class: "car", Confidence: 0.9})
	status, _ := wire.Encode(wire.Status{V: 1, Device: "edge-1", Online: true, Time: now, Backlog: 3, OldestPendingS: 1,
		Cameras: []wire.CameraStatus{{ID: "synth-cam-1", State: wire.CameraUp, DecodedFPS: 25, AnalysedFPS: 10}}})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ing.Run(runCtx); close(done) }()
	for _, m := range []ingest.Message{
		{Topic: wire.Topic("edge-1", wire.KindEvents), Payload: ev, Received: now},
		{Topic: wire.Topic("edge-1", wire.KindStatus), Payload: status, Received: now},
		{Topic: wire.Topic("edge-1", wire.KindEvents), Payload: []byte("not json"), Received: now},
	} {
		if !ing.TrySubmit(m) {
			t.Fatal("ingest queue full")
		}
	}
	stop()
	<-done
	if s := ing.Stats(); s.Committed != 1 || s.DeadLetters != 1 {
		t.Fatalf("tiny ingest: %+v, want 1 event committed and 1 dead letter", s)
	}

	acc := api.NewAccess(st, api.AccessOptions{}, log)
	h := api.Handler(st, acc, cat, api.Scoring{Window: cfg.Score.Window, MinRoadUsers: cfg.Score.MinRoadUsers, Now: time.Now},
		func() bool { return true }, nil, log)
	a := &aggregatorUnderTest{cfg: cfg, tel: tel, api: tel.HTTP.Wrap(h)}
	rec := httptest.NewRecorder()
	a.api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/sites", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("GET /api/v1/sites without credentials: %d, want 401", rec.Code)
	}
	return a
}
