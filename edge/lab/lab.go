// Package lab holds crosswatch-edge's lab tools: synthetic clips, evaluation against ground
// truth, benchmarks, the fault and soak harness, scene drawings and evidence images. None of
// them runs on a box in service; edge/cli dispatches to them as subcommands of the same binary.
package lab

import (
	"context"
	"flag"
	"io"
)

// Command is one lab tool as a subcommand of crosswatch-edge.
type Command struct {
	Name    string // the subcommand
	Usage   string // how the binary's usage text names it: "scene draw"
	Summary string
	// Run runs the tool with args (after the subcommand). It returns flag.ErrHelp after -h.
	Run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// Commands are the lab tools, in the order the usage text lists them.
var Commands = []Command{
	{"synth", "synth", "render a seeded synthetic intersection or platform clip with its scene and ground truth", runSynth},
	{"scene", "scene draw", "draw a scene over a frame of its clip, to PNG, to check it by eye", runScene},
	{"evidence", "evidence", "write anonymised evidence images of a clip's frames (people and plates pixelated, faces blurred)", runEvidence},
	{"burst", "burst", "fault and soak harness: append numbered synthetic events and send them", runBurst},
	{"bench", "bench", "decode alone vs the full pipeline on one clip, in one run", runBench},
	{"eval", "eval", "precision and recall per event type against a ground-truth file", runEval},
}

// Find returns the lab tool called name, or false.
func Find(name string) (Command, bool) {
	for _, c := range Commands {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

func newFlags(name string) *flag.FlagSet {
	return flag.NewFlagSet("crosswatch-edge "+name, flag.ContinueOnError)
}
