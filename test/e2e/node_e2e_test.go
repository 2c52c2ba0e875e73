//go:build e2e

package e2e

import (
	"os"
	"testing"
)

// TestNode is the whole end-to-end run; its stage decides which half runs here.
func TestNode(t *testing.T) {
	if os.Getenv(stageEnv) == "node" {
		nodeStage(t)
		return
	}
	hostStage(t, nodeStageTimeout, nil)
}
