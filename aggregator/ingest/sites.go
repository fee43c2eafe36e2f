package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/crosswatch/crosswatch/aggregator"
)

// SiteSource is the registry the ingester's sites come from.
type SiteSource interface {
	// FindSites returns every site in the registry.
	FindSites(ctx context.Context) ([]aggregator.Site, error)
	// RegistryStamp returns a value that changes whenever a site is added, changed or deleted.
	RegistryStamp(ctx context.Context) (string, error)
}

// siteMap is the ingester's copy of the registry's sites, replaced whole on each change so
// that validation reads it without a lock and never queries the registry per message.
type siteMap struct {
	byID  map[string]aggregator.Site
	stamp string // the registry's stamp when read; "" when set by SetSites
}

func newSiteMap(sites []aggregator.Site, stamp string) *siteMap {
	m := &siteMap{byID: make(map[string]aggregator.Site, len(sites)), stamp: stamp}
	for _, s := range sites {
		m.byID[s.ID] = s
	}
	return m
}

// SetSites replaces the sites the ingester accepts records for. Safe for concurrent use while
// Run and Reprocess run: a message is validated against the sites before or after the change,
// never a mix.
func (g *Ingester) SetSites(sites []aggregator.Site) { g.sites.Store(newSiteMap(sites, "")) }

// RefreshSites reads the sites from src again if its stamp changed since they were last read
// (one small query when nothing changed), so that a site created, edited or deleted through
// the API is what the next message is validated against. It returns whether the sites
// changed. Safe for concurrent use.
func (g *Ingester) RefreshSites(ctx context.Context, src SiteSource) (bool, error) {
	g.refreshMu.Lock()
	defer g.refreshMu.Unlock()
	stamp, err := src.RegistryStamp(ctx)
	if err != nil {
		return false, fmt.Errorf("refresh sites: %w", err)
	}
	if cur := g.sites.Load(); cur != nil && cur.stamp == stamp {
		return false, nil
	}
	sites, err := src.FindSites(ctx)
	if err != nil {
		return false, fmt.Errorf("refresh sites: %w", err)
	}
	g.sites.Store(newSiteMap(sites, stamp))
	return true, nil
}

// WatchSites refreshes the sites from src every interval until ctx ends: an edit made through
// another instance's API (several aggregators on one PostgreSQL) reaches this one within
// interval. This instance's own edits refresh at once (RefreshSites after each write).
func (g *Ingester) WatchSites(ctx context.Context, src SiteSource, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if changed, err := g.RefreshSites(ctx, src); err != nil {
				log.Warn("read the site registry; validating with the sites read before", "err", err)
			} else if changed {
				log.Info("site registry changed: ingest validates with the new sites", "sites", len(g.sites.Load().byID))
			}
		}
	}
}
