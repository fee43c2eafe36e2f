// Command crosswatch-edge is the edge daemon: it reads camera streams, finds safety events and
// sends them through its outbox to the aggregator.
package main

import (
	"os"

	"github.com/crosswatch/crosswatch/edge/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
