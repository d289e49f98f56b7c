package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// DefaultImage is the image `make image` builds. Its first name component has
// a dot so no registry prefix (TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX) rewrites it.
const DefaultImage = "pgshard.local/postgres:15"

// ImageEnv names the environment variable that selects the PostgreSQL image,
// e.g. PGSHARD_PG_IMAGE=postgres:15 for the official image.
const ImageEnv = "PGSHARD_PG_IMAGE"

// imageFromEnv returns the configured image, or DefaultImage.
func imageFromEnv() string {
	if img := strings.TrimSpace(os.Getenv(ImageEnv)); img != "" {
		return img
	}
	return DefaultImage
}

// checkLocalImage fails early, with the command that fixes it, when a
// pgshard.local image is missing: testcontainers would otherwise try to pull
// it and report a registry error that says nothing useful.
func checkLocalImage(ctx context.Context, docker *client.Client, image string) error {
	if !strings.HasPrefix(image, "pgshard.local/") {
		return nil
	}
	_, err := docker.ImageInspect(ctx, image)
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("image %s is not built: run `make image` (or set %s to an image a registry can serve)", image, ImageEnv)
	}
	if err != nil {
		return fmt.Errorf("inspect image %s: %w", image, err)
	}
	return nil
}

var errNoReplica = errors.New("node is not a replica")
