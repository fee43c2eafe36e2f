// Package cli is the crosswatch-aggregator command: flags, configuration and wiring by hand.
// The main package only calls Main, so tests can run the same code.
package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/api"
	"github.com/crosswatch/crosswatch/aggregator/broker"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
	"github.com/crosswatch/crosswatch/aggregator/dashboard"
	"github.com/crosswatch/crosswatch/aggregator/ingest"
	"github.com/crosswatch/crosswatch/aggregator/mqtt"
	"github.com/crosswatch/crosswatch/aggregator/postgres"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
)

const usage = `crosswatch-aggregator: stores safety events once, prices them onto sites, serves the API

Commands:
  serve         run the aggregator (embedded MQTT broker by default)
  sites         print the site table from a running aggregator's API
  check-config  validate the configuration and the catalog
Run 'crosswatch-aggregator COMMAND -h' for a command's flags.
`

// Main runs the command in args (without the program name) and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "sites":
		err = runSites(ctx, args[1:], stdout)
	case "check-config":
		err = runCheck(args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "crosswatch-aggregator: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "crosswatch-aggregator %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

type serveFlags struct {
	config, broker, mqttListen, http, db, dsn, clientID, group string
}

func parseServe(args []string) (*Config, *aggregator.Catalog, error) {
	fs := flag.NewFlagSet("crosswatch-aggregator serve", flag.ContinueOnError)
	var f serveFlags
	fs.StringVar(&f.config, "config", "configs/aggregator.yaml", "configuration file")
	fs.StringVar(&f.broker, "broker", "", "external MQTT broker URL such as tcp://127.0.0.1:1883 (default: the config's, embedded)")
	fs.StringVar(&f.mqttListen, "mqtt-listen", "", "address of the embedded broker (port 0: any free port)")
	fs.StringVar(&f.http, "http", "", "HTTP listen address (port 0: any free port)")
	fs.StringVar(&f.db, "db", "", "SQLite database path")
	fs.StringVar(&f.dsn, "postgres", "", "PostgreSQL DSN (postgres://…): use PostgreSQL instead of SQLite")
	fs.StringVar(&f.clientID, "client-id", "", "MQTT client id (each instance of a scaled-out group needs its own)")
	fs.StringVar(&f.group, "group", "", "MQTT shared-subscription group: instances in one group split the stream")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	cfg, err := loadConfig(f.config)
	if err != nil {
		return nil, nil, err
	}
	if f.broker != "" {
		cfg.MQTT.Broker = f.broker
	}
	if f.mqttListen != "" {
		cfg.MQTT.Listen = f.mqttListen
	}
	if f.http != "" {
		cfg.HTTP.Listen = f.http
	}
	if f.db != "" {
		cfg.Store.Path = f.db
	}
	if f.dsn != "" {
		cfg.Store.Driver, cfg.Store.DSN = "postgres", f.dsn
	}
	if f.clientID != "" {
		cfg.MQTT.ClientID = f.clientID
	}
	if f.group != "" {
		cfg.MQTT.Group = f.group
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", f.config, err)
	}
	cat, err := catalog.Load(cfg.Catalog)
	if err != nil {
		return nil, nil, err
	}
	return cfg, cat, nil
}

func runCheck(args []string, stdout io.Writer) error {
	cfg, cat, err := parseServe(args)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %d sites, catalog %s with %d entries, broker %s, store %s\n", len(cfg.Sites), cat.Version, len(cat.Entries), cfg.MQTT.Broker, cfg.Store.Path)
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, cat, err := parseServe(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	var store *sqlstore.Store
	if cfg.Store.Driver == "postgres" {
		store, err = postgres.Open(cfg.Store.DSN)
	} else {
		store, err = sqlite.Open(cfg.Store.Path)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.UpsertSites(ctx, cfg.Sites); err != nil {
		return err
	}
	kinds := map[string]aggregator.SiteKind{}
	for _, s := range cfg.Sites {
		kinds[s.ID] = s.Kind
	}
	repriced, err := store.EnsureCatalog(ctx, cat, kinds)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Catalog, err)
	}
	if repriced > 0 {
		log.Info("new catalog version: stored events re-priced", "version", cat.Version, "ledger_rows", repriced)
	}

	brokerURL, user, pass := cfg.MQTT.Broker, cfg.MQTT.Username, cfg.MQTT.Password
	if brokerURL == "embedded" {
		// The aggregator's own client proves itself with a secret made for this process.
		var secret [16]byte
		rand.Read(secret[:])
		user, pass = "crosswatch-aggregator", hex.EncodeToString(secret[:])
		acl := &broker.ACL{AggregatorUser: user, AggregatorSecret: pass}
		if f := cfg.MQTT.DeviceTokensFile; f != "" {
			if acl.DeviceTokens, err = loadDeviceTokens(f); err != nil {
				return err
			}
		}
		if f := cfg.MQTT.ControllersFile; f != "" {
			if acl.Controllers, err = loadControllers(f, acl.DeviceTokens); err != nil {
				return err
			}
		}
		b, err := broker.Start(cfg.MQTT.Listen, acl, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			return err
		}
		defer b.Close()
		brokerURL = b.URL()
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}

	ingCtx, stopIngest := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIngest()
	var ing *ingest.Ingester
	client := mqtt.New(mqtt.Options{Broker: brokerURL, ClientID: cfg.MQTT.ClientID, Username: user, Password: pass, Group: cfg.MQTT.Group, Log: log,
		Submit: func(m ingest.Message) bool { return ing.TrySubmit(m) }})
	ingCfg := ingest.DefaultConfig()
	ingCfg.Queue = 65536 // a deep queue: shedding (and the devices' resends) only under real overload
	ing = ingest.New(store, client, cat, cfg.Sites, ingCfg, log, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ing.SetMetrics(ingest.NewMetrics(reg, func() float64 { return float64(ing.QueueLen()) }))
	ingest.NewDeviceCollector(reg, store.FindDevices)
	live := api.NewLive()
	ing.SetOnCommit(live.Publish) // before Run: the commit goroutine reads it
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ing.Run(ingCtx) }()
	if err := client.Connect(10 * time.Second); err != nil {
		ln.Close()
		stopIngest()
		wg.Wait()
		return err
	}

	scoring := api.Scoring{Window: cfg.Score.Window, MinRoadUsers: cfg.Score.MinRoadUsers, Now: time.Now}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	apiHandler := api.Handler(store, cat, scoring, client.Connected, live, log)
	mux.Handle("/api/", apiHandler)
	mux.Handle("/healthz", apiHandler)
	mux.Handle("/readyz", apiHandler)
	mux.Handle("/", dashboard.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(live.Close) // streams never end by themselves; Shutdown would wait for them
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	apiURL := "http://" + ln.Addr().String()
	where := cfg.Store.Path
	if cfg.Store.Driver == "postgres" {
		where = "postgres"
	}
	fmt.Fprintf(stdout, "crosswatch-aggregator: ready dashboard=%s/ api=%s/api/v1/sites broker=%s store=%s catalog=%s\n", apiURL, apiURL, brokerURL, where, cat.Version)

	select {
	case <-ctx.Done():
	case err = <-httpErr:
	}
	// Shutdown: stop the API, commit and acknowledge what was received, then disconnect.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	stopIngest()
	wg.Wait()
	client.Close()
	st := ing.Stats()
	fmt.Fprintf(stdout, "crosswatch-aggregator: stopped; %d events committed, %d duplicates, %d dead letters\n", st.Committed, st.Duplicates, st.DeadLetters)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func runSites(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("crosswatch-aggregator sites", flag.ContinueOnError)
	base := fs.String("api", "http://127.0.0.1:8080", "the aggregator's base URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*base, "/")+"/api/v1/sites", nil)
	if err != nil {
		return fmt.Errorf("--api: %w", err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	var sites []aggregator.SiteScore
	if err := json.NewDecoder(resp.Body).Decode(&sites); err != nil {
		return fmt.Errorf("%s: %w", req.URL, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tSITE\tKIND\tSCORE\tEVENTS\tROAD USERS\tRATE PER 1,000 (95% CI)")
	for i, s := range sites {
		var ev []string
		for k, n := range s.Events {
			ev = append(ev, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(ev)
		if len(ev) == 0 {
			ev = []string{"-"}
		}
		rate := "insufficient data"
		if s.Status == aggregator.StatusOK {
			var rs []string
			for k, r := range s.Rates {
				rs = append(rs, fmt.Sprintf("%s %.1f (%.1f–%.1f)", k, r.PerThousand, r.Low, r.High))
			}
			sort.Strings(rs)
			rate = strings.Join(rs, " ")
			if rate == "" {
				rate = "0"
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%d\t%s\n", i+1, s.ID, s.Kind, s.Score, strings.Join(ev, " "), s.RoadUsers, rate)
	}
	return tw.Flush()
}
