package admin

import (
	"fmt"
	"net/http"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pgshard/pgshard/internal/config"
)

// HandleConfig serves GET /config, authenticated as /status is: the
// configuration in force (after any reload), defaults filled in, as YAML
// with every password and token written as <redacted>; the console's
// SHOW CONFIG lists the same, a setting per row. Call it before Serve.
func (s *Server) HandleConfig(current func() *config.Config) {
	s.config = current
	s.mux.Handle("GET /config", s.auth(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		text, err := configYAML(current())
		if err != nil {
			plain(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(text)
	})))
}

// configYAML is cfg as YAML. config.Secret marshals as its placeholder,
// so no secret is written.
func configYAML(cfg *config.Config) ([]byte, error) {
	if cfg == nil {
		return nil, fmt.Errorf("no configuration")
	}
	return yaml.Marshal(cfg)
}

// configTable is SHOW CONFIG: each setting of cfg with its key path, as
// the configuration file and pgshard check name them (pool.size,
// users[0].name).
func configTable(cfg *config.Config) (*table, error) {
	text, err := configYAML(cfg)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, err
	}
	t := newTable(col("key", oidText), col("value", oidText))
	var walk func(path string, n *yaml.Node)
	walk = func(path string, n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(path, c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := n.Content[i].Value
				if path != "" {
					key = path + "." + key
				}
				walk(key, n.Content[i+1])
			}
		case yaml.SequenceNode:
			if len(n.Content) == 0 {
				t.add(path, "[]")
			}
			for i, c := range n.Content {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		default:
			if n.Tag == "!!null" {
				t.add(path, nil)
				return
			}
			t.add(path, strings.TrimSpace(n.Value))
		}
	}
	walk("", &doc)
	return t, nil
}
