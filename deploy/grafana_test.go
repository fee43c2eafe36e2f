package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

// edgeMetrics are the edge daemon's metrics the dashboard may name, with their type and labels.
// edge/cli TestDaemonCameraFailsAlone checks the other way, against the daemon's registry: every
// edge metric this dashboard and the alert rules name is one the edge exports.
var edgeMetrics = map[string]struct {
	typ    dto.MetricType
	labels []string
}{
	"crosswatch_edge_camera_up":                     {dto.MetricType_GAUGE, []string{"camera"}},
	"crosswatch_edge_frames_decoded_total":          {dto.MetricType_COUNTER, []string{"camera"}},
	"crosswatch_edge_frames_analysed_total":         {dto.MetricType_COUNTER, []string{"camera"}},
	"crosswatch_edge_frames_dropped_total":          {dto.MetricType_COUNTER, []string{"camera"}},
	"crosswatch_edge_detector_seconds":              {dto.MetricType_HISTOGRAM, []string{"camera"}},
	"crosswatch_edge_pipeline_lag_seconds":          {dto.MetricType_GAUGE, []string{"camera"}},
	"crosswatch_edge_source_reconnects_total":       {dto.MetricType_COUNTER, []string{"camera"}},
	"crosswatch_edge_view_changes_total":            {dto.MetricType_COUNTER, []string{"camera"}},
	"crosswatch_edge_outbox_rows":                   {dto.MetricType_GAUGE, nil},
	"crosswatch_edge_outbox_bytes":                  {dto.MetricType_GAUGE, nil},
	"crosswatch_edge_outbox_oldest_pending_seconds": {dto.MetricType_GAUGE, nil},
	"crosswatch_edge_inflight":                      {dto.MetricType_GAUGE, nil},
	"crosswatch_edge_acks_total":                    {dto.MetricType_COUNTER, nil},
	"crosswatch_edge_events_total":                  {dto.MetricType_COUNTER, []string{"type"}},
	"crosswatch_edge_gaps_total":                    {dto.MetricType_COUNTER, []string{"kind"}},
	"crosswatch_edge_rejected_total":                {dto.MetricType_COUNTER, []string{"reason"}},
	"crosswatch_edge_broker_connected":              {dto.MetricType_GAUGE, nil},
	"crosswatch_edge_build_info":                    {dto.MetricType_GAUGE, []string{"version"}},
}

// aggregatorMetrics are those issue #15 asks the dashboard to show from the aggregator.
var aggregatorMetrics = []string{
	"crosswatch_device_online", "crosswatch_device_backlog", "crosswatch_device_oldest_pending_seconds",
	"crosswatch_device_last_seen_timestamp_seconds", "crosswatch_events_total", "crosswatch_site_events_total",
	"crosswatch_dead_letters_total", "crosswatch_http_requests_total", "crosswatch_http_request_seconds", "crosswatch_build_info",
	"crosswatch_camera_up", "crosswatch_camera_reconnects_total", "crosswatch_camera_decoded_fps", "crosswatch_camera_analysed_fps",
}

// query is one PromQL expression of the dashboard and where it is.
type query struct{ where, expr string }

// dashboardQueries returns every expression of deploy/grafana/crosswatch.json: panel targets
// (rows' nested panels too) and query variables.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile("grafana/crosswatch.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/crosswatch.json: %v", err)
	}
	var out []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, query{"panel " + p.Title + " " + tg.RefID, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) != nil {
			json.Unmarshal(v.Query, &q.Query)
		}
		out = append(out, query{"variable " + v.Name, q.Query})
	}
	return out
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// A selector: a metric name, optionally followed by {label matchers}.
var (
	selectorRE = regexp.MustCompile(`\b(crosswatch_[a-z0-9_]+)(\{[^}]*\})?`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	byRE       = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// series is what a registry (or the edge list) says of one metric.
type series struct {
	typ    dto.MetricType
	labels map[string]bool
}

// resolve returns the metric a query's name refers to: itself, or a histogram's for its
// _bucket, _sum and _count series.
func resolve(name string, known map[string]series) (string, series, bool) {
	if s, ok := known[name]; ok {
		return name, s, s.typ != dto.MetricType_HISTOGRAM // a histogram is queried by its series
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if s, ok := known[base]; ok && s.typ == dto.MetricType_HISTOGRAM {
				if suf == "_bucket" {
					s.labels = mapWith(s.labels, "le")
				}
				return base, s, true
			}
		}
	}
	return "", series{}, false
}

func mapWith(m map[string]bool, k string) map[string]bool {
	out := map[string]bool{k: true}
	for x := range m {
		out[x] = true
	}
	return out
}

// knownMetrics returns the metrics a query may name: the aggregator's, from the registry serve
// builds, gathered after a tiny ingest and a request; the edge's, from its list.
func knownMetrics(t *testing.T) map[string]series {
	t.Helper()
	a := newAggregator(t)
	mfs, err := a.tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]series{}
	for _, mf := range mfs {
		s := series{typ: mf.GetType(), labels: map[string]bool{"instance": true, "job": true}}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				s.labels[l.GetName()] = true
			}
		}
		known[mf.GetName()] = s
	}
	for _, name := range aggregatorMetrics {
		if _, ok := known[name]; !ok {
			t.Errorf("the aggregator's registry has no %s after an ingest and a request", name)
		}
	}
	for name, m := range edgeMetrics {
		labels := map[string]bool{"instance": true, "job": true}
		for _, l := range m.labels {
			labels[l] = true
		}
		known[name] = series{typ: m.typ, labels: labels}
	}
	return known
}

// checkQuery fails for every metric q names that is not known, and every label it matches on
// or groups by that its metrics lack; it returns the metrics q reads.
func checkQuery(t *testing.T, q query, known map[string]series) []string {
	t.Helper()
	if strings.TrimSpace(q.expr) == "" {
		t.Errorf("%s: empty query", q.where)
		return nil
	}
	var names, bases []string
	for _, m := range selectorRE.FindAllStringSubmatch(q.expr, -1) {
		base, s, ok := resolve(m[1], known)
		if !ok {
			t.Errorf("%s: %s: no such metric (or a histogram queried without _bucket/_sum/_count)", q.where, m[1])
			continue
		}
		bases = append(bases, base)
		names = append(names, m[1])
		for _, lm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
			if !s.labels[lm[1]] {
				t.Errorf("%s: %s has no label %s", q.where, m[1], lm[1])
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	// Labels a query groups by must exist on at least one metric it reads.
	for _, g := range byRE.FindAllStringSubmatch(q.expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			if !slices.ContainsFunc(names, func(n string) bool { _, s, _ := resolve(n, known); return s.labels[l] }) {
				t.Errorf("%s: groups by %s, which none of %v has", q.where, l, names)
			}
		}
	}
	for _, lv := range labelValuesRE.FindAllStringSubmatch(q.expr, -1) {
		if _, s, _ := resolve(lv[1], known); !s.labels[lv[2]] {
			t.Errorf("%s: label_values(%s, %s): no such label", q.where, lv[1], lv[2])
		}
	}
	return bases
}

var labelValuesRE = regexp.MustCompile(`label_values\(\s*(crosswatch_[a-z0-9_]+)\s*,\s*([a-z_]+)\s*\)`)

// Every metric a dashboard query names exists, with every label the query matches on or groups
// by: the aggregator's in the registry serve builds, gathered after a tiny ingest; the edge's
// in its list. And the dashboard shows every metric issue #15 names.
func TestDashboardMetricsExist(t *testing.T) {
	known := knownMetrics(t)
	used := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		for _, name := range checkQuery(t, q, known) {
			used[name] = true
		}
	}
	var missing []string
	for _, name := range aggregatorMetrics {
		if !used[name] {
			missing = append(missing, name)
		}
	}
	for name := range edgeMetrics {
		if !used[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard shows none of %v", missing)
	}
}

// The alert panels are there and turn red past a threshold.
func TestDashboardAlertPanels(t *testing.T) {
	b, err := os.ReadFile("grafana/crosswatch.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title       string                  `json:"title"`
			Targets     []struct{ Expr string } `json:"targets"`
			FieldConfig struct {
				Defaults struct {
					Thresholds struct {
						Steps []struct {
							Color string   `json:"color"`
							Value *float64 `json:"value"`
						} `json:"steps"`
					} `json:"thresholds"`
				} `json:"defaults"`
			} `json:"fieldConfig"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	for _, metric := range []string{"crosswatch_edge_camera_up", "crosswatch_camera_up", "crosswatch_device_online", "crosswatch_device_backlog",
		"crosswatch_dead_letters_total", "crosswatch_edge_rejected_total"} {
		found := false
		for _, p := range d.Panels {
			reads := slices.ContainsFunc(p.Targets, func(tg struct{ Expr string }) bool { return strings.Contains(tg.Expr, metric) })
			red := slices.ContainsFunc(p.FieldConfig.Defaults.Thresholds.Steps, func(s struct {
				Color string   `json:"color"`
				Value *float64 `json:"value"`
			}) bool {
				return s.Value != nil && (s.Color == "red" || s.Color == "orange")
			})
			if reads && red {
				found = true
			}
		}
		if !found {
			t.Errorf("no alert panel over %s (a panel reading it with a red or orange threshold)", metric)
		}
	}
}

// Every alerting rule's expression names metrics (and labels) that exist, as the dashboard's
// queries must; and the rules cover what the alert panels show.
func TestAlertRulesMetricsExist(t *testing.T) {
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("prometheus/alerts.yml: %v", err)
	}
	known := knownMetrics(t)
	covered := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			for _, name := range checkQuery(t, query{"alert " + r.Alert, r.Expr}, known) {
				covered[name] = true
			}
		}
	}
	for _, m := range []string{"crosswatch_edge_camera_up", "crosswatch_camera_up", "crosswatch_device_online", "crosswatch_device_backlog",
		"crosswatch_dead_letters_total", "crosswatch_device_last_seen_timestamp_seconds", "crosswatch_edge_rejected_total"} {
		if !covered[m] {
			t.Errorf("no alerting rule over %s", m)
		}
	}
}
