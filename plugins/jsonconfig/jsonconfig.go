// Package jsonconfig reads a plugin's configuration, a JSON object (the gateway writes a
// [[plugin]]'s config table as one), strictly: a key the plugin does not know is an error
// that names it. json.Unmarshal ignores such keys, so a misspelt option loaded as if it
// were not there: {"tags": ["debug"], "exlude": true} made tagfilter deliver the debug
// messages only and skip (consume, never deliver) all the others.
//
// It imports only the standard library and compiles for GOOS=wasip1; the built-in
// plugins that take a configuration use it.
package jsonconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// Decode reads config into v, a pointer to a struct. An empty configuration (the gateway
// passes none when the [[plugin]] has no config) leaves v as it is, so that the plugin's
// own checks say what is missing. Keys v has no field for, data after the object, and what
// json.Unmarshal refuses are errors.
func Decode(config []byte, v any) error {
	if len(bytes.TrimSpace(config)) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(config))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("json: data after the configuration's object")
	}
	return nil
}
