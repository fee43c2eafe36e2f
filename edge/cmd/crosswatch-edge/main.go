// Command crosswatch-edge is the edge daemon: it reads camera streams, finds safety events and
// sends them through its outbox to the aggregator.
package main

import (
	"os"

	"github.com/crosswatch/crosswatch/edge/cli"
	"github.com/crosswatch/crosswatch/internal/cpuprofile"
)

func main() {
	tuneMalloc()
	// CROSSWATCH_CPUPROFILE=file writes a CPU profile of the whole run (docs/BENCHMARKS.md).
	os.Exit(cpuprofile.Run(os.Getenv("CROSSWATCH_CPUPROFILE"), "crosswatch-edge", func() int { return cli.Main(os.Args[1:], os.Stdout, os.Stderr) }))
}
