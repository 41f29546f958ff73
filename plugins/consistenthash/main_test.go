package main

import (
	"testing"

	"github.com/mqgate/mqgate/plugins/allocate"
)

func TestConfigureBoundsVirtualNodes(t *testing.T) {
	for _, tt := range []struct {
		config string
		want   int // virtual nodes after, or -1 for an error
	}{
		{``, allocate.DefaultVirtualNodes},
		{`{}`, allocate.DefaultVirtualNodes},
		{`{"virtualNodes": 1}`, 1},
		{`{"virtualNodes": 1000}`, 1000},
		{`{"virtualNodes": 0}`, -1}, // an empty ring: no queue for anybody
		{`{"virtualNodes": -3}`, -1},
		{`{"virtualNodes": 1001}`, -1},
		{`{"virtualNodes": 1099511627776}`, -1},
		{`{"virtualNodes": "ten"}`, -1},
		{`{"virtualNode": 20}`, -1}, // a misspelt key is refused, not ignored
	} {
		virtualNodes = allocate.DefaultVirtualNodes
		err := configure([]byte(tt.config))
		switch {
		case tt.want < 0 && err == nil:
			t.Errorf("configure(%s) accepted: %d virtual nodes", tt.config, virtualNodes)
		case tt.want >= 0 && err != nil:
			t.Errorf("configure(%s): %v", tt.config, err)
		case tt.want >= 0 && virtualNodes != tt.want:
			t.Errorf("configure(%s): %d virtual nodes, want %d", tt.config, virtualNodes, tt.want)
		}
	}
}
