// Command crosswatch-aggregator receives safety events from edge devices, stores each exactly
// once, prices it onto its site's ledger and serves the results.
package main

import (
	"os"

	"github.com/crosswatch/crosswatch/aggregator/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
