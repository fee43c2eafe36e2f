// Command crosswatch-edge is the edge daemon: it reads camera streams, finds safety events and
// sends them through its outbox to the aggregator.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/crosswatch/crosswatch/edge/cli"
)

func main() {
	// CROSSWATCH_CPUPROFILE=file writes a CPU profile of the whole run (docs/BENCHMARKS.md).
	if path := os.Getenv("CROSSWATCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "crosswatch-edge: CROSSWATCH_CPUPROFILE: %v\n", err)
			os.Exit(1)
		}
		code := cli.Main(os.Args[1:], os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(code)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
