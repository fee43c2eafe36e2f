package aggregator

import (
	"errors"
	"time"
)

// ConfigActor is who wrote a registry record seeded from aggregator.yaml's sites: list. A
// record last written by anyone else (an admin through the API) is never overwritten by the
// configuration file.
const ConfigActor = "config"

// Registry errors.
var (
	// ErrConflict means the record changed since the version the writer read: another editor
	// saved first. Nothing was written.
	ErrConflict = errors.New("changed by someone else since the version you read")
	// ErrInUse means a site cannot be deleted because records refer to it.
	ErrInUse = errors.New("in use")
)

// SiteRecord is a site in the registry with its edit history's head: the version increases by
// one with every write, so an editor who read version n can save only over version n.
type SiteRecord struct {
	Site
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"` // ConfigActor, "user:NAME" or "token:NAME"
}

// Camera is a camera in the registry: the device that runs it and its scene (the edge's scene
// YAML, validated by edge/scene), whose version increases by one with every scene saved.
// Sites lists the sites whose cameras name it (Site.Cameras is the one place that says which
// site a camera serves).
type Camera struct {
	ID           string    `json:"id"`
	Sites        []string  `json:"sites"`
	Device       string    `json:"device"`
	Scene        string    `json:"scene"`
	SceneVersion int64     `json:"scene_version"` // 0: no scene stored yet
	SceneSHA256  string    `json:"scene_sha256,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
	UpdatedBy    string    `json:"updated_by"`
}

// Frame is a camera's latest reference still, as its box sent it: a JPEG at most 640 px wide,
// anonymised at the edge (people and plates pixelated, faces blurred). The scene editor draws
// the camera's scene over it.
type Frame struct {
	Camera   string    `json:"camera"`
	Device   string    `json:"device"`
	Time     time.Time `json:"time"`     // when the box read it (its clock)
	Received time.Time `json:"received"` // when the aggregator stored it
	Reason   string    `json:"reason"`   // start, scene or request (edge/wire)
	Width    int       `json:"width"`
	Height   int       `json:"height"`
	JPEG     []byte    `json:"-"`
}
