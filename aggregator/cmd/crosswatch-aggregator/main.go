// Command crosswatch-aggregator receives safety events from edge devices, stores each exactly
// once, prices it onto its site's ledger and serves the results.
package main

import (
	"os"

	"github.com/crosswatch/crosswatch/aggregator/cli"
	"github.com/crosswatch/crosswatch/internal/cpuprofile"
)

func main() {
	// CROSSWATCH_CPUPROFILE=file writes a CPU profile of the whole run (docs/BENCHMARKS.md).
	os.Exit(cpuprofile.Run(os.Getenv("CROSSWATCH_CPUPROFILE"), "crosswatch-aggregator", func() int { return cli.Main(os.Args[1:], os.Stdout, os.Stderr) }))
}
