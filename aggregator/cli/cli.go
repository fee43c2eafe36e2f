// Package cli is the crosswatch-aggregator command: flags, configuration and wiring by hand.
// The main package only calls Main, so tests can run the same code.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crosswatch/crosswatch/aggregator"
	"github.com/crosswatch/crosswatch/aggregator/api"
	"github.com/crosswatch/crosswatch/aggregator/catalog"
	"github.com/crosswatch/crosswatch/aggregator/dashboard"
	"github.com/crosswatch/crosswatch/aggregator/ingest"
	"github.com/crosswatch/crosswatch/aggregator/mbtiles"
	"github.com/crosswatch/crosswatch/aggregator/mqtt"
	"github.com/crosswatch/crosswatch/aggregator/postgres"
	"github.com/crosswatch/crosswatch/aggregator/sqlite"
	"github.com/crosswatch/crosswatch/aggregator/sqlstore"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/buildinfo"
)

const usage = `crosswatch-aggregator: stores safety events once, prices them onto sites, serves the API

Commands:
  serve         run the aggregator (embedded MQTT broker by default)
  sites         print the site table from a running aggregator's API
  check-config  validate the configuration and the catalog
  device add    add a device to a token file and print its token (once)
  controller add  add a signal controller to a controllers file and print its token (once)
  certs         make a CA, the broker's certificate and one client certificate per device
  user add NAME --role viewer|reviewer|admin
                create a dashboard user; prints its generated password once
  user list | user remove NAME | user passwd NAME
                list users; remove one (its sessions end); give one a new generated password
  token add NAME --role viewer|reviewer|admin
                create an API token (scripts, Prometheus); prints it once
  token list | token remove NAME
                list API tokens; revoke one
  --version     print this build's version
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
	case "device":
		err = runDevice(args[1:], stdout, stderr)
	case "controller":
		err = runController(args[1:], stdout)
	case "certs":
		err = runCerts(args[1:], stdout)
	case "user", "token":
		err = runCredential(ctx, args[0], args[1:], stdout, stderr)
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, buildinfo.Line("crosswatch-aggregator"))
		return 0
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
	deviceTokens, mqttUser, mqttPasswordFile                   string
	insecure                                                   bool
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
	fs.StringVar(&f.deviceTokens, "device-tokens", "", "devices' token hashes, \"device-id:hash\" per line (mqtt.device_tokens_file)")
	fs.StringVar(&f.mqttUser, "mqtt-user", "", "the aggregator's username on an external broker (mqtt.username)")
	fs.StringVar(&f.mqttPasswordFile, "mqtt-password-file", "", "file with the aggregator's password on an external broker (mqtt.password_file)")
	fs.BoolVar(&f.insecure, "insecure", false, "let devices connect without proving who they are (mqtt.insecure); a closed lab only")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	cfg, err := LoadConfig(f.config)
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
	if f.deviceTokens != "" {
		cfg.MQTT.DeviceTokensFile = f.deviceTokens
	}
	if f.mqttUser != "" {
		cfg.MQTT.Username = f.mqttUser
	}
	if f.mqttPasswordFile != "" {
		cfg.MQTT.PasswordFile = f.mqttPasswordFile
	}
	if f.insecure {
		cfg.MQTT.Insecure = true
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
	tiles, err := cfg.openTiles()
	if err != nil {
		return err
	}
	tilesNote := ""
	if tiles != nil {
		tilesNote = fmt.Sprintf(", map tiles %s (%s, zoom %d..%d)", cfg.Dashboard.Tiles, tiles.Format, tiles.MinZoom, tiles.MaxZoom)
		tiles.Close()
	}
	creds, err := checkCredentials(&cfg.MQTT)
	if err != nil {
		return err
	}
	if cfg.HTTP.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(cfg.HTTP.TLSCert, cfg.HTTP.TLSKey); err != nil {
			return fmt.Errorf("http.tls_cert, http.tls_key: %w", err)
		}
	}
	for _, n := range cfg.zoneNotes() {
		fmt.Fprintln(stdout, "note: "+n)
	}
	fmt.Fprintf(stdout, "ok: %d sites, catalog %s with %d entries, broker %s, store %s%s\n", len(cfg.Sites), cat.Version, len(cat.Entries), cfg.MQTT.Broker, cfg.Store.Path, creds+tilesNote)
	return nil
}

// openStore opens the configured store.
func openStore(cfg *Config) (*sqlstore.Store, error) {
	if cfg.Store.Driver == "postgres" {
		return postgres.Open(cfg.Store.DSN)
	}
	return sqlite.Open(cfg.Store.Path)
}

// siteRefresh is how soon a site edited through another instance's API reaches this one's
// ingest (this instance's own edits apply at once).
const siteRefresh = 2 * time.Second

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, cat, err := parseServe(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var tlsCfg *tls.Config
	if cfg.HTTP.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.HTTP.TLSCert, cfg.HTTP.TLSKey)
		if err != nil {
			return fmt.Errorf("http.tls_cert, http.tls_key: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	tiles, err := cfg.openTiles()
	if err != nil {
		return err
	}
	if tiles != nil {
		defer tiles.Close()
	}
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if cfg.HTTP.Insecure {
		log.Warn("http.insecure is true: the API and dashboard need no credentials; anyone who reaches " + cfg.HTTP.Listen +
			" reads evidence images, devices and dead letters. Remove it and create users with 'crosswatch-aggregator user add'")
	} else if users, tokens, err := store.CountCredentials(ctx); err != nil {
		return err
	} else if users+tokens == 0 {
		log.Warn("no users or API tokens yet: the API answers 401 to everyone; create one with 'crosswatch-aggregator user add NAME --role admin'")
	}
	if tlsCfg == nil && !cfg.HTTP.Insecure {
		log.Info("HTTP without TLS on a loopback address: the session cookie is not Secure (set http.tls_cert and http.tls_key to serve HTTPS)")
	}
	for _, n := range cfg.zoneNotes() {
		log.Info(n)
	}
	// aggregator.yaml seeds the registry; what an admin edited through the API stays.
	kept, err := store.SeedSites(ctx, cfg.Sites)
	if err != nil {
		return err
	}
	if len(kept) > 0 {
		log.Info("sites edited through the API keep their edits; aggregator.yaml's entries for them are not applied", "sites", kept)
	}
	registry, err := store.FindSites(ctx)
	if err != nil {
		return err
	}
	kinds := map[string]aggregator.SiteKind{}
	for _, s := range registry {
		kinds[s.ID] = s.Kind
	}
	repriced, err := store.EnsureCatalog(ctx, cat, kinds)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Catalog, err)
	}
	if repriced > 0 {
		log.Info("new catalog version: stored events re-priced", "version", cat.Version, "ledger_rows", repriced)
	}

	link, closeBroker, err := startMQTT(cfg, stderr, log)
	if err != nil {
		return err
	}
	defer closeBroker()
	brokerURL := link.Broker
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}

	ingCtx, stopIngest := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIngest()
	var ing *ingest.Ingester
	frames := ingest.NewFrames(store, ingest.Config{MaxAhead: cfg.Ingest.MaxClockAhead, DeadLetterBytes: cfg.Ingest.DeadLetterBytes}, log, nil)
	link.Log, link.Submit = log, func(m ingest.Message) bool { return ing.TrySubmit(m) }
	link.SubmitFrame = frames.TrySubmit
	scenes := newScenes(store, log)
	link.OnConnect = scenes.republish
	client := mqtt.New(link.Options)
	scenes.pub = client
	defer scenes.Wait()
	ingCfg := ingest.DefaultConfig()
	ingCfg.Queue = 65536 // a deep queue: shedding (and the devices' resends) only under real overload
	ingCfg.MaxAge, ingCfg.MaxAhead, ingCfg.DeadLetterBytes = cfg.Ingest.MaxEventAge, cfg.Ingest.MaxClockAhead, cfg.Ingest.DeadLetterBytes
	ing = ingest.New(store, client, cat, registry, ingCfg, log, nil)
	// The registry, not the file: sites created through the API count as much as seeded ones.
	if _, err := ing.RefreshSites(ctx, store); err != nil {
		return err
	}
	tel := NewTelemetry(cfg, cat, func() float64 { return float64(ing.QueueLen()) }, store.FindDevices)
	ing.SetMetrics(tel.Ingest)
	frames.SetMetrics(tel.Ingest)
	live := api.NewLive()
	live.MaxStreams = cfg.HTTP.MaxStreams
	ing.SetOnCommit(live.Publish) // before Run: the commit goroutine reads it
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); ing.Run(ingCtx) }()
	go func() { defer wg.Done(); frames.Run(ingCtx) }()
	go func() { defer wg.Done(); ing.WatchSites(ingCtx, store, siteRefresh, log) }()
	go func() {
		defer wg.Done()
		prune(ingCtx, store, sqlstore.Retention{Evidence: cfg.Retention.Evidence, DeadLetters: cfg.Retention.DeadLetters}, time.Hour, log)
	}()
	if err := client.Connect(10 * time.Second); err != nil {
		ln.Close()
		stopIngest()
		wg.Wait()
		return err
	}

	scoring := api.Scoring{Window: cfg.Score.Window, MinRoadUsers: cfg.Score.MinRoadUsers, Now: time.Now}
	access := api.NewAccess(store, api.AccessOptions{Insecure: cfg.HTTP.Insecure, SecureCookies: tlsCfg != nil}, log)
	mux := http.NewServeMux()
	// Metrics need an API token (any role): they name devices and sites.
	mux.Handle("/metrics", access.Protect(aggregator.Viewer, promhttp.HandlerFor(tel.Registry, promhttp.HandlerOpts{})))
	// Reprocessing validates dead letters with the sites and catalog this process ingests with.
	reprocess := func(ctx context.Context, f aggregator.DeadLetterFilter, actor string) (aggregator.Reprocessed, aggregator.Change, error) {
		return ing.Reprocess(ctx, store, f, actor)
	}
	// A site written through this instance's API is what ingest validates the next message with.
	// A scene saved goes to its device at once, retained.
	hooks := api.RegistryHooks{Sites: func(ctx context.Context) {
		if _, err := ing.RefreshSites(ctx, store); err != nil {
			log.Warn("read the site registry after a change; ingest catches up within "+siteRefresh.String(), "err", err)
		}
	}, Camera: func(_ context.Context, c aggregator.Camera) { scenes.publish(c) }}
	apiHandler := api.Handler(store, access, cat, scoring, client.Connected, live, log, api.WithReprocess(reprocess), api.WithRegistryHooks(hooks),
		api.WithFrameRequests(func(_ context.Context, device, camera string) error {
			return client.RequestFrame(device, camera, time.Now())
		}))
	mux.Handle("/api/", apiHandler)
	mux.Handle("/healthz", apiHandler)
	mux.Handle("/readyz", apiHandler)
	// The plan view's basemap, for whoever may read the dashboard.
	mux.Handle("/tiles/", access.Protect(aggregator.Viewer, mbtiles.Handler(tiles, log)))
	mux.Handle("/", dashboard.Handler())
	handler := tel.HTTP.Wrap(mux)
	if tlsCfg != nil {
		// Browsers that have seen the HTTPS site never try it in clear again.
		counted := handler
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
			counted.ServeHTTP(w, r)
		})
	}
	srv := api.NewServer(handler, api.Limits{ReadTimeout: cfg.HTTP.ReadTimeout, WriteTimeout: cfg.HTTP.WriteTimeout, IdleTimeout: cfg.HTTP.IdleTimeout})
	srv.RegisterOnShutdown(live.Close) // streams never end by themselves; Shutdown would wait for them
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	httpErr := make(chan error, 1)
	apiURL := "http://" + ln.Addr().String()
	if tlsCfg != nil {
		srv.TLSConfig = tlsCfg
		apiURL = "https://" + ln.Addr().String()
		go func() { httpErr <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { httpErr <- srv.Serve(ln) }()
	}
	where := cfg.Store.Path
	if cfg.Store.Driver == "postgres" {
		where = "postgres"
	}
	tlsNote := ""
	if link.TLSListener != "" {
		tlsNote = " mqtt_tls=" + link.TLSListener
	}
	fmt.Fprintf(stdout, "crosswatch-aggregator: ready dashboard=%s/ api=%s/api/v1/sites broker=%s store=%s catalog=%s%s\n", apiURL, apiURL, brokerURL, where, cat.Version, tlsNote)

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

// prune deletes what outlived its retention now and then every period, until ctx ends.
func prune(ctx context.Context, st *sqlstore.Store, r sqlstore.Retention, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		p, err := st.Prune(ctx, r, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("retention: prune; trying again later", "err", err)
		case p.Evidence+p.DeadLetters > 0:
			log.Info("retention: deleted", "evidence_images", p.Evidence, "dead_letters", p.DeadLetters, "expired_sessions", p.Sessions)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runCredential is "user|token add NAME --role R", "user|token list", "user|token remove
// NAME" and "user passwd NAME". Secrets are generated, stored as hashes and printed once on
// stdout; every change is recorded in the audit log as made by "cli".
func runCredential(ctx context.Context, kind string, args []string, stdout, stderr io.Writer) error {
	usage := fmt.Errorf("usage: crosswatch-aggregator %s add NAME --role viewer|reviewer|admin | list | remove NAME%s [--config F] [--db F | --postgres DSN]",
		kind, map[string]string{"user": " | passwd NAME", "token": ""}[kind])
	if len(args) == 0 {
		return usage
	}
	sub, args := args[0], args[1:]
	switch {
	case sub == "add", sub == "list", sub == "remove":
	case sub == "passwd" && kind == "user":
	default:
		return usage
	}
	fs := flag.NewFlagSet("crosswatch-aggregator "+kind+" "+sub, flag.ContinueOnError)
	config := fs.String("config", "configs/aggregator.yaml", "configuration file (its store)")
	db := fs.String("db", "", "SQLite database path (default: the config's)")
	dsn := fs.String("postgres", "", "PostgreSQL DSN (default: the config's store)")
	role := fs.String("role", "", "viewer, reviewer or admin (add)")
	// NAME may come before the flags or after them.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected %q after NAME", fs.Arg(0))
	}
	if sub == "list" {
		if name != "" {
			return fmt.Errorf("list takes no NAME, got %q", name)
		}
	} else if err := wire.CheckName("name", name); err != nil {
		return fmt.Errorf("NAME: %q: letters, digits, '.', '_' or '-', at most %d", name, wire.MaxNameLen)
	}
	r := aggregator.Role(*role)
	if sub == "add" && !r.Valid() {
		return fmt.Errorf("--role: must be viewer, reviewer or admin, got %q", *role)
	}
	if sub != "add" && *role != "" {
		return fmt.Errorf("--role: only for add")
	}
	cfg, err := LoadConfig(*config)
	if err != nil {
		return err
	}
	if *db != "" {
		cfg.Store.Driver, cfg.Store.Path = "sqlite", *db
	}
	if *dsn != "" {
		cfg.Store.Driver, cfg.Store.DSN = "postgres", *dsn
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	audit := func(action, detail string) error {
		return st.AppendAudit(ctx, aggregator.AuditEntry{Time: now, Actor: "cli", Action: kind + "." + action, Detail: detail})
	}
	secretOut := func(what string) {
		fmt.Fprintf(stderr, "%s %s: its %s (shown only now, stored only as a hash):\n", kind, name, what)
	}
	switch {
	case sub == "list":
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
		if kind == "user" {
			us, err := st.FindUsers(ctx)
			if err != nil {
				return err
			}
			for _, u := range us {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, u.Created.Format(time.RFC3339))
			}
		} else {
			ts, err := st.FindTokens(ctx)
			if err != nil {
				return err
			}
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Role, t.Created.Format(time.RFC3339))
			}
		}
		return tw.Flush()
	case sub == "remove":
		if kind == "user" {
			err = st.DeleteUser(ctx, name) // and the user's sessions
		} else {
			err = st.DeleteToken(ctx, name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s %s removed\n", kind, name)
		return audit("remove", name)
	case sub == "passwd":
		secret := api.NewPassword()
		h, err := api.HashPassword(secret)
		if err != nil {
			return err
		}
		if err := st.UpdatePassword(ctx, name, h); err != nil { // and ends the user's sessions
			return err
		}
		if err := audit("passwd", name); err != nil {
			return err
		}
		secretOut("new password")
		fmt.Fprintln(stdout, secret)
		return nil
	case kind == "user":
		secret := api.NewPassword()
		h, err := api.HashPassword(secret)
		if err != nil {
			return err
		}
		if err := st.CreateUser(ctx, aggregator.User{Name: name, Role: r, PasswordHash: h, Created: now}); err != nil {
			return err
		}
		if err := audit("add", name+" as "+string(r)); err != nil {
			return err
		}
		secretOut("password")
		fmt.Fprintln(stdout, secret)
		return nil
	default:
		secret, h := api.NewSecret("cw_")
		if err := st.CreateToken(ctx, aggregator.Token{Name: name, Role: r, Hash: h, Created: now}); err != nil {
			return err
		}
		if err := audit("add", name+" as "+string(r)); err != nil {
			return err
		}
		secretOut("API token")
		fmt.Fprintln(stdout, secret)
		return nil
	}
}

func runSites(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("crosswatch-aggregator sites", flag.ContinueOnError)
	base := fs.String("api", "http://127.0.0.1:8080", "the aggregator's base URL")
	tokenFile := fs.String("token-file", "", "file holding an API token (default: $CROSSWATCH_TOKEN)")
	caFile := fs.String("ca", "", "PEM CA certificate to trust for an https:// --api (default: the system's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token := os.Getenv("CROSSWATCH_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca: %s holds no PEM certificate", *caFile)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*base, "/")+"/api/v1/sites", nil)
	if err != nil {
		return fmt.Errorf("--api: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("%s: %s: give an API token with --token-file or $CROSSWATCH_TOKEN ('crosswatch-aggregator token add NAME --role viewer' makes one)", req.URL, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	var sites []aggregator.SiteScore
	if err := json.NewDecoder(resp.Body).Decode(&sites); err != nil {
		return fmt.Errorf("%s: %w", req.URL, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tSITE\tKIND\tSCORE\tPOINTS PER 1,000 (95% CI)\tEVENTS\tROAD USERS\tRATE PER 1,000 (95% CI)")
	for _, s := range sites {
		var ev []string
		for k, n := range s.Events {
			ev = append(ev, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(ev)
		if len(ev) == 0 {
			ev = []string{"-"}
		}
		// Sites with too few road users are listed after the ranked ones, with no rank or score.
		rank, score, risk, rate := "-", "-", "-", "insufficient data"
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
			rank = strconv.Itoa(s.Rank)
		}
		if s.Score != nil {
			score = strconv.Itoa(*s.Score)
		}
		if s.Risk != nil {
			risk = fmt.Sprintf("%.1f (%.1f–%.1f)", s.Risk.PerThousand, s.Risk.Low, s.Risk.High)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", rank, s.ID, s.Kind, score, risk, strings.Join(ev, " "), s.RoadUsers, rate)
	}
	return tw.Flush()
}
