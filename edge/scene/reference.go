package scene

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ReferencePath is where a scene's view reference lives by default: beside the scene file,
// named after it (configs/scenes/real/x.yaml → x.view.pgm).
func ReferencePath(scenePath string) string {
	return strings.TrimSuffix(scenePath, filepath.Ext(scenePath)) + ".view.pgm"
}

// ReadReference reads the view reference named by flagPath (which must exist), or else the
// one beside the scene, if there. It returns nil bytes when there is none: the pipeline then
// learns one from the video. The pipeline checks the contents (vision.DecodeReference).
func ReadReference(flagPath, scenePath string) ([]byte, string, error) {
	path := flagPath
	if path == "" {
		path = ReferencePath(scenePath)
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(b) == 0 {
			return nil, path, fmt.Errorf("view reference %s: empty file", path)
		}
		return b, path, nil
	case flagPath == "" && errors.Is(err, fs.ErrNotExist):
		return nil, "", nil
	default:
		return nil, path, fmt.Errorf("--view-reference: %w", err)
	}
}
