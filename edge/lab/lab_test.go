package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/crosswatch/crosswatch/edge/eval"
	"github.com/crosswatch/crosswatch/edge/scene/scenefile"
	"github.com/crosswatch/crosswatch/edge/synth"
	"github.com/crosswatch/crosswatch/edge/wire"
	"github.com/crosswatch/crosswatch/internal/synthclip"
	"github.com/crosswatch/crosswatch/internal/testenv"
)

func TestMain(m *testing.M) { synthclip.Main(m) }

// run runs a lab tool as crosswatch-edge does, and returns its exit status (0, or 1 with the
// error on stderr), stdout and stderr.
func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	tool, ok := Find(args[0])
	if !ok {
		return 2, "", "no lab tool " + args[0]
	}
	if err := tool.Run(context.Background(), args[1:], &out, &errb); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(&errb, "crosswatch-edge %s: %v\n", args[0], err)
		return 1, out.String(), errb.String()
	}
	return 0, out.String(), errb.String()
}

// bench --json prints the fields the benchmarks document reads, measured on one clip in one run.
func TestBenchJSON(t *testing.T) {
	dir := synthclip.Dir(t)
	code, stdout, stderr := run("bench", "--clip", filepath.Join(dir, synth.ClipName), "--scene", filepath.Join(dir, "scene.yaml"), "--frames", "60", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r BenchResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if r.Frames != 60 || r.DecodeFPS <= 0 || r.PipelineFPS <= 0 || r.Ratio <= 0 || r.Ratio > 2 || r.Width != 640 || r.Analysed == 0 ||
		r.DecodeCPUS <= 0 || r.PipelineCPUS <= 0 || r.CPURatio <= 0 || r.CPURatio > 2 {
		t.Fatalf("result %+v", r)
	}
}

// A real H.264 clip from ../shared, when present: decoded to its end without error.
func TestBenchRealClip(t *testing.T) {
	clip := testenv.SharedClip(t, "../../../shared/videos/rlv_ahmadyahya_youtube.mp4")
	code, stdout, stderr := run("bench", "--clip", clip, "--json")
	var r BenchResult
	if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil || r.Frames < 100 || r.Width != 352 {
		t.Fatalf("exit %d %q %q", code, stdout, stderr)
	}
}

// On seeded synthetic scenes, road and platform, by day, at dusk (low contrast) and with
// occluders, every event type reaches precision and recall >= 0.95 per clip and in total; and
// the check can fail: one seed's detections scored against another seed's truth.
func TestEvalSyntheticSeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("renders and analyses 18 one-minute clips")
	}
	type clip struct {
		kind, variant string
		seed          int
	}
	var clips []clip
	for _, kind := range []string{synth.Intersection, synth.Platform} {
		for seed := 1; seed <= 5; seed++ {
			clips = append(clips, clip{kind, synth.Day, seed})
		}
		for seed := 1; seed <= 2; seed++ {
			clips = append(clips, clip{kind, synth.Night, seed}, clip{kind, synth.Occlusion, seed})
		}
	}
	var mu sync.Mutex
	total := map[string]*eval.Score{}
	var truthN, countedN int // road users over every counted zone, for rates
	dirs := map[string]string{}
	root := t.TempDir() // the whole test's: the wrong-truth check below reads two clips again
	t.Run("clips", func(t *testing.T) {
		for _, c := range clips {
			name := fmt.Sprintf("%s-%s-%d", c.kind, c.variant, c.seed)
			dir := filepath.Join(root, name)
			dirs[name] = dir
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if code, _, stderr := run("synth", "--kind", c.kind, "--variant", c.variant, "--seed", strconv.Itoa(c.seed), "--out", dir); code != 0 {
					t.Fatal(stderr)
				}
				code, stdout, stderr := run("eval", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName),
					"--truth", filepath.Join(dir, "truth.json"), "--json")
				if code != 0 {
					t.Fatal(stderr)
				}
				var r eval.Report
				if err := json.Unmarshal([]byte(stdout), &r); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(r.Counts) == 0 {
					t.Error("no counts compared: the truth counts road users")
				}
				for z, c := range r.Counts {
					// Rates are events per 1,000 road users: a count off by more than one road
					// user, or a tenth, would move a site's rate.
					if d := c.Counted - c.Truth; d*d > 1 && float64(d*d) > 0.01*float64(c.Truth*c.Truth) {
						t.Errorf("%s: counted %d road users, truth %d", z, c.Counted, c.Truth)
					}
					truthN += c.Truth
					countedN += c.Counted
				}
				for typ, s := range r.Types {
					if or1(s.Precision) < 0.95 || or1(s.Recall) < 0.95 {
						t.Errorf("%s: %+v", typ, s)
					}
					if total[typ] == nil {
						total[typ] = &eval.Score{}
					}
					total[typ].TP += s.TP
					total[typ].FP += s.FP
					total[typ].FN += s.FN
				}
			})
		}
	})
	for _, typ := range wire.EventTypes {
		s := total[typ]
		if s == nil {
			t.Errorf("%s: no clip has one", typ)
			continue
		}
		t.Logf("%d clips, %s: tp %d fp %d fn %d", len(clips), typ, s.TP, s.FP, s.FN)
		if s.TP < 5 || float64(s.TP)/float64(s.TP+s.FP) < 0.95 || float64(s.TP)/float64(s.TP+s.FN) < 0.95 {
			t.Errorf("%s over all clips: %+v", typ, s)
		}
	}
	t.Logf("%d clips: %d road users counted, truth %d", len(clips), countedN, truthN)
	a, b := dirs["intersection-day-1"], dirs["intersection-day-3"]
	code, stdout, stderr := run("eval", "--scene", filepath.Join(a, "scene.yaml"), "--clip", filepath.Join(a, synth.ClipName),
		"--truth", filepath.Join(b, "truth.json"), "--json")
	var wrong eval.Report
	if err := json.Unmarshal([]byte(stdout), &wrong); code != 0 || err != nil {
		t.Fatalf("seed 1 against seed 3's truth: %d %v %s", code, err, stderr)
	}
	if s := wrong.Types[wire.RedLightRunning]; or1(s.Precision) >= 0.95 && or1(s.Recall) >= 0.95 {
		t.Fatalf("seed 1 scored against seed 3's truth passes: the check cannot fail (%+v)", s)
	}
	if c := wrong.Counts[synth.ZoneSB]; c.Counted == c.Truth {
		t.Fatalf("seed 1's count against seed 3's truth matches: the count check cannot fail (%+v)", c)
	}
}

// scene draw writes a PNG of the clip's size with the stop lines drawn on it.
func TestSceneDraw(t *testing.T) {
	dir := synthclip.Dir(t)
	out := filepath.Join(t.TempDir(), "scene.png")
	code, _, stderr := run("scene", "draw", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName), "--out", out, "--at", "2s")
	if code != 0 {
		t.Fatal(stderr)
	}
	img := gocv.IMRead(out, gocv.IMReadColor)
	defer img.Close()
	if img.Cols() != 640 || img.Rows() != 480 {
		t.Fatalf("png %dx%d", img.Cols(), img.Rows())
	}
	// The northbound stop line (y = 0.65) is drawn in red over the white painted line.
	v := img.GetVecbAt(312, 358)
	if v[2] < 200 || v[1] > 90 {
		t.Fatalf("stop line pixel BGR %v, want red", v)
	}
	if code, _, stderr := run("scene", "draw", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName), "--out", out+".jpg"); code == 0 || !strings.Contains(stderr, ".png") {
		t.Fatalf("non-png out: %d %q", code, stderr)
	}
}

// scene draw --tracks runs the detector and tracker up to --at and draws the road users there.
func TestSceneDrawTracks(t *testing.T) {
	dir := synthclip.Dir(t)
	sc, err := scenefile.Load(filepath.Join(dir, "scene.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tracks, w, h, err := tracksAt(context.Background(), sc, filepath.Join(dir, synth.ClipName), 20*time.Second)
	if err != nil || len(tracks) == 0 || w != 640 || h != 480 {
		t.Fatalf("tracks at 20 s: %d in %dx%d, %v", len(tracks), w, h, err)
	}
	plain, drawn := filepath.Join(t.TempDir(), "plain.png"), filepath.Join(t.TempDir(), "tracks.png")
	for _, c := range []struct {
		out   string
		extra []string
	}{{plain, nil}, {drawn, []string{"--tracks"}}} {
		args := append([]string{"scene", "draw", "--scene", filepath.Join(dir, "scene.yaml"), "--clip", filepath.Join(dir, synth.ClipName), "--out", c.out, "--at", "20s"}, c.extra...)
		if code, _, stderr := run(args...); code != 0 {
			t.Fatal(stderr)
		}
	}
	a, b := gocv.IMRead(plain, gocv.IMReadColor), gocv.IMRead(drawn, gocv.IMReadColor)
	defer a.Close()
	defer b.Close()
	diff := gocv.NewMat()
	defer diff.Close()
	gocv.AbsDiff(a, b, &diff)
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(diff, &gray, gocv.ColorBGRToGray)
	if n := gocv.CountNonZero(gray); n < 50*len(tracks) {
		t.Fatalf("%d pixels drawn for %d tracks", n, len(tracks))
	}
}

// The controller's feed decides the signal state when the scene says so: with the true feed the
// results equal the camera's, with a feed six seconds late they are wrong and the device counts
// the camera and the feed disagreeing.
func TestSignalFeed(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := run("synth", "--seed", "3", "--out", dir); code != 0 {
		t.Fatal(stderr)
	}
	sc, _ := os.ReadFile(filepath.Join(dir, "scene.yaml"))
	withFeed := strings.NewReplacer("    - id: nb-head\n", "    - id: nb-head\n      feed: true\n", "    - id: sb-head\n", "    - id: sb-head\n      feed: true\n").Replace(string(sc))
	if withFeed == string(sc) {
		t.Fatal("no signal to give a feed")
	}
	os.WriteFile(filepath.Join(dir, "feed.yaml"), []byte(withFeed), 0o644)
	phases, _ := os.ReadFile(filepath.Join(dir, "phases.jsonl"))
	var late []string
	for _, line := range strings.Split(strings.TrimSpace(string(phases)), "\n") {
		var p wire.Phase
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		p.Time = p.Time.Add(6 * time.Second)
		b, _ := json.Marshal(p)
		late = append(late, string(b))
	}
	os.WriteFile(filepath.Join(dir, "late.jsonl"), []byte(strings.Join(late, "\n")), 0o644)
	eval := func(phases string) (map[string]eval.Score, string) {
		args := []string{"eval", "--scene", filepath.Join(dir, "feed.yaml"), "--clip", filepath.Join(dir, synth.ClipName), "--truth", filepath.Join(dir, "truth.json"), "--phases", phases}
		code, stdout, stderr := run(args...)
		if code != 0 {
			t.Fatal(stderr)
		}
		_, jsonOut, _ := run(append(args, "--json")...)
		var r eval.Report
		json.Unmarshal([]byte(jsonOut), &r)
		return r.Types, stdout
	}
	good, out := eval(filepath.Join(dir, "phases.jsonl"))
	if s := good[wire.RedLightRunning]; s.TP == 0 || or1(s.Precision) < 1 || or1(s.Recall) < 1 || !strings.Contains(out, "disagreed 0 times") {
		t.Fatalf("true feed: %+v\n%s", s, out)
	}
	bad, out := eval(filepath.Join(dir, "late.jsonl"))
	if s := bad[wire.RedLightRunning]; or1(s.Precision) >= 0.95 || strings.Contains(out, "disagreed 0 times") {
		t.Fatalf("late feed: %+v\n%s", s, out)
	}
	if code, _, stderr := run("eval", "--scene", filepath.Join(dir, "feed.yaml"), "--clip", filepath.Join(dir, synth.ClipName), "--truth",
		filepath.Join(dir, "truth.json"), "--phases", filepath.Join(dir, "scene.yaml")); code == 0 || !strings.Contains(stderr, "scene.yaml:1") {
		t.Fatalf("a malformed feed file: %d %s", code, stderr)
	}
}

// or1 is a precision or recall, 1 when there was nothing to count (eval's JSON null): what the
// checks here did before eval reported null.
func or1(p *float64) float64 {
	if p == nil {
		return 1
	}
	return *p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// The labelled real clips in configs/scenes/real are measured (docs/ACCURACY.md): each runs,
// and finds every labelled violation but the misses realClipMisses explains.
// realClipFalsePositives is how many events each real-clip scene raises beyond its truth today,
// all explained in docs/ACCURACY.md; TestEvalRealClips fails if a change raises more.
var realClipFalsePositives = map[string]int{
	"platform_metroeyes_tokyo_metro_platform_fisheye.classical": 1, // the classical blob at the arriving train
}

// realClipMisses is how many labelled events each real-clip scene misses today, all explained
// in docs/ACCURACY.md; TestEvalRealClips fails if a change misses more.
var realClipMisses = map[string]int{
	"rlv_uvhnael_16h15.classical":              4, // the classical detector in a dense motorbike queue
	"rlv_gutomadon_redlight.classical":         1, // the classical blob of the night car is lost a frame past the bar
	"ped_roxaaaaa_crosswalk.classical":         2, // the classical detector: near the camera the two jaywalkers are car-sized blobs
	"conflict_shivam25_nyc_intersection_crash": 1, // two men step off as one box
	"platform_chenghanc_track_fall_annotated":  1, // no detector finds the woman in the dithered night GIF
}

// realClipCountErrors is how far each real-clip scene's road-user count is from its labelled
// count today (the worst zone), all explained in docs/ACCURACY.md; TestEvalRealClips fails if a
// change moves a count further.
var realClipCountErrors = map[string]int{
	"rlv_ahmadyahya_youtube":                         1, // a rider's track no longer takes a car's box over the line
	"rlv_uvhnael_16h15.classical":                    4, // the classical detector misses the four riders of the red phase
	"ped_roxaaaaa_crosswalk.classical":               3, // blobs that split from a passer-by still tracked; one woman is car-sized
	"ped_roxaaaaa_crosswalk":                         2, // a second box over one person at the start; a sign post seen as a person
	"general_kartikmalhotra_highway_overpass":        2, // the DNN loses small far cars for up to a second and finds them again past the count line
	"general_shas232_highway_overpass":               2,
	"general_bilal11123_calgary_road_lrt_station":    5, // tracks that break in the six-lane stream
	"conflict_albertfredy7_junction_motorbike_crash": 3, // riders thrown across the line in the crash
	"conflict_bordeaux2294_snow_intersection_crash":  1,
	"conflict_shivam25_nyc_intersection_crash":       1,
	"conflict_shreyanshbardia_intersection_tbone":    1,
	"conflict_stark16_street_suv_motorbike":          1,
	"platform_chenghanc_track_fall_annotated":        1,
}

// The PicoDet detector (decoded in edge/vision) finds the motorway's small far cars that
// yolo-fastest loses before the count lines: all six crossings, where yolo-fastest counts
// three (docs/ACCURACY.md).
func TestPicoDetCountsTheMotorway(t *testing.T) {
	const base = "general_kartikmalhotra_highway_overpass"
	clip := testenv.SharedClip(t, "../../../shared/videos/"+base+".mp4")
	dir, _ := filepath.Abs(modelsDir(t))
	t.Setenv("CROSSWATCH_MODELS", dir)
	b, err := os.ReadFile("../../configs/scenes/real/" + base + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc := filepath.Join(t.TempDir(), "pico.yaml")
	os.WriteFile(sc, append(b, "detector: {model: picodet_s_320_coco_cv46}\n"...), 0o644)
	code, stdout, stderr := run("eval", "--scene", sc, "--clip", clip, "--truth", "../../configs/scenes/real/"+base+".truth.json", "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	var r eval.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	for _, z := range []string{"toward", "away"} {
		if c := r.Counts[z]; c.Counted != c.Truth || c.Truth == 0 {
			t.Errorf("%s: counted %d, truth %d", z, c.Counted, c.Truth)
		}
	}
}

func TestEvalRealClips(t *testing.T) {
	// clip.yaml (the product's defaults) and clip.classical.yaml (the tuned classical detector)
	// share clip.truth.json.
	scenes, _ := filepath.Glob("../../configs/scenes/real/*.yaml")
	if len(scenes) == 0 {
		t.Fatal("no real-clip scenes")
	}
	for _, sc := range scenes {
		name := strings.TrimSuffix(filepath.Base(sc), ".yaml")
		// Each scene its own subtest: a missing clip skips (fails in CI) that scene alone.
		t.Run(name, func(t *testing.T) { evalRealClip(t, sc, name) })
	}
}

// evalRealClip scores one real-clip scene against its truth.
func evalRealClip(t *testing.T, sc, name string) {
	base, _, _ := strings.Cut(name, ".")
	clip := "../../../shared/videos/" + base + ".mp4"
	if m, _ := filepath.Glob("../../../shared/videos/" + base + ".*"); len(m) == 1 {
		clip = m[0] // a .gif, a .m4v
	}
	clip = testenv.SharedClip(t, clip)
	if !strings.Contains(name, ".classical") {
		dir, _ := filepath.Abs(modelsDir(t))
		t.Setenv("CROSSWATCH_MODELS", dir) // eval finds the detector's model there
	}
	args := []string{"eval", "--scene", sc, "--clip", clip, "--truth", filepath.Join(filepath.Dir(sc), base+".truth.json"), "--json"}
	if ph := filepath.Join(filepath.Dir(sc), base+".phases.jsonl"); fileExists(ph) {
		args = append(args, "--phases", ph) // a recorded feed (the platform's door status)
	}
	code, stdout, stderr := run(args...)
	if code != 0 {
		t.Fatalf("%s: %s", name, stderr)
	}
	var r eval.Report
	json.Unmarshal([]byte(stdout), &r)
	fp, fn := 0, 0
	for typ, s := range r.Types {
		t.Logf("%s %s: tp %d fp %d fn %d", name, typ, s.TP, s.FP, s.FN)
		fp += s.FP
		fn += s.FN
	}
	for z, c := range r.Counts {
		t.Logf("%s %s: counted %d road users, truth %d", name, z, c.Counted, c.Truth)
		if d := c.Counted - c.Truth; d > realClipCountErrors[name] || -d > realClipCountErrors[name] {
			t.Errorf("%s %s: counted %d road users, truth %d, %d known (docs/ACCURACY.md)", name, z, c.Counted, c.Truth, realClipCountErrors[name])
		}
	}
	if fn > realClipMisses[name] {
		t.Errorf("%s: missed %d labelled events, %d known (docs/ACCURACY.md)", name, fn, realClipMisses[name])
	}
	if fp > realClipFalsePositives[name] {
		t.Errorf("%s: %d false positives, %d known (docs/ACCURACY.md)", name, fp, realClipFalsePositives[name])
	}
}
