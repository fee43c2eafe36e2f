// Command crosswatch-aggregator receives safety events from edge devices, stores each exactly
// once, prices it onto its site's ledger and serves the results.
package main

import (
	"os"
	"runtime/debug"

	"github.com/crosswatch/crosswatch/aggregator/cli"
	"github.com/crosswatch/crosswatch/internal/cpuprofile"
)

func main() {
	// Ingest allocates a few kilobytes per message around a small live heap, so the default GC
	// target collected every few milliseconds under load. 400 raised the ingest rate from a
	// broker backlog by 15 % (docs/BENCHMARKS.md); GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// CROSSWATCH_CPUPROFILE=file writes a CPU profile of the whole run (docs/BENCHMARKS.md).
	os.Exit(cpuprofile.Run(os.Getenv("CROSSWATCH_CPUPROFILE"), "crosswatch-aggregator", func() int { return cli.Main(os.Args[1:], os.Stdout, os.Stderr) }))
}
