package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The admin API's plugin routes:
//
//	GET    /v1/plugins                 plugins:read   {"plugins": [plugin...]}
//	GET    /v1/plugins/{name}          plugins:read   plugin
//	PUT    /v1/plugins/{name}          plugins:write  upload: 201 plugin (200 when that module and settings were stored already;
//	                                                  nothing reloaded when they are the active version's)
//	POST   /v1/plugins/{name}/activate plugins:write  {"version": 3} or {"version": "<sha256 or a prefix>"} -> plugin
//	POST   /v1/plugins/{name}/rollback plugins:write  the previous version -> plugin
//	POST   /v1/plugins/{name}/resume   plugins:write  lift the quarantine -> plugin
//	DELETE /v1/plugins/{name}          plugins:write  the plugin as it was (409 while a consumer names it)
//
// An upload's body is the module (any content type but multipart), its metadata in the
// query: slot (required for a new name), policy, memory_limit, stack_limit, deadline,
// instances, max_instances, quarantine_after, config (the plugin's configuration, as it is). Or a
// multipart/form-data body with a "module" part and a "metadata" part, a JSON object of
// the same keys, where config may be any JSON value (a string is passed as its text).
// Settings left out are the active version's (the defaults for a new plugin).

// uploadKeys are the query parameters of an upload.
var uploadKeys = []string{"slot", "policy", "memory_limit", "stack_limit", "deadline", "instances", "max_instances", "quarantine_after", "config"}

func (a *admin) listPlugins(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Plugins []pluginJSON `json:"plugins"`
	}{a.reg.list()})
}

func (a *admin) getPlugin(w http.ResponseWriter, r *http.Request) {
	v, err := a.reg.describe(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *admin) putPlugin(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	req, err := a.readUpload(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, created, err := a.reg.upload(r.Context(), name, req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/plugins/"+url.PathEscape(name))
	}
	writeJSON(w, status, v)
}

// readUpload reads an upload's module and metadata, the body within the size limit.
func (a *admin) readUpload(w http.ResponseWriter, r *http.Request) (uploadRequest, error) {
	var req uploadRequest
	q := r.URL.Query()
	for k := range q {
		if !slices.Contains(uploadKeys, k) {
			return req, badRequest("unknown query parameter %q (want %s)", k, strings.Join(uploadKeys, ", "))
		}
	}
	if err := queryMetadata(q, &req); err != nil {
		return req, err
	}
	limit := a.maxModule
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			return req, tooLargeModule(err, limit)
		}
		req.wasm = body
		return req, nil
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, a.maxUpload), params["boundary"])
	sawModule := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return req, tooLargeModule(err, limit, "multipart body: ")
		}
		switch part.FormName() {
		case "module":
			b, err := io.ReadAll(io.LimitReader(part, limit+1))
			if err != nil {
				return req, tooLargeModule(err, limit, "module part: ")
			}
			if int64(len(b)) > limit {
				return req, opError(http.StatusRequestEntityTooLarge, codeTooLarge, "the module exceeds %d bytes ([plugins] max_module_size)", limit)
			}
			req.wasm, sawModule = b, true
		case "metadata":
			if len(q) > 0 {
				return req, badRequest("metadata in both the query and a metadata part: give one")
			}
			b, err := io.ReadAll(io.LimitReader(part, uploadOverhead))
			if err != nil {
				return req, tooLargeModule(err, limit, "metadata part: ")
			}
			if err := jsonMetadata(b, &req); err != nil {
				return req, err
			}
		default:
			return req, badRequest("unknown multipart part %q (want module and metadata)", part.FormName())
		}
	}
	if !sawModule {
		return req, badRequest("the multipart body has no module part")
	}
	return req, nil
}

func tooLargeModule(err error, limit int64, prefix ...string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return opError(http.StatusRequestEntityTooLarge, codeTooLarge, "the module exceeds %d bytes ([plugins] max_module_size)", limit)
	}
	return badRequest("%sreading the body: %v", strings.Join(prefix, ""), err)
}

// queryMetadata reads an upload's metadata from the query.
func queryMetadata(q url.Values, req *uploadRequest) error {
	req.slot = q.Get("slot")
	p := &req.patch
	if q.Has("policy") {
		p.Policy = ptr(q.Get("policy"))
	}
	for _, n := range []struct {
		key string
		dst **int
	}{{"memory_limit", &p.MemoryLimit}, {"stack_limit", &p.StackLimit}, {"instances", &p.Instances}, {"max_instances", &p.MaxInstances}, {"quarantine_after", &p.QuarantineAfter}} {
		if !q.Has(n.key) {
			continue
		}
		v, err := strconv.Atoi(q.Get(n.key))
		if err != nil {
			return badRequest("%s: %q is not an integer", n.key, q.Get(n.key))
		}
		*n.dst = &v
	}
	if q.Has("deadline") {
		d, err := time.ParseDuration(q.Get("deadline"))
		if err != nil {
			return badRequest("deadline: %q is not a duration such as \"10ms\"", q.Get("deadline"))
		}
		p.Deadline = ptr(jsonDuration(d))
	}
	if q.Has("config") {
		p.Config = ptr(q.Get("config"))
	}
	return nil
}

// uploadMetadata is the metadata part of a multipart upload.
type uploadMetadata struct {
	Slot string `json:"slot"`
	settingsPatch
	Config json.RawMessage `json:"config"`
}

// jsonMetadata reads an upload's metadata from a JSON object.
func jsonMetadata(b []byte, req *uploadRequest) error {
	var m uploadMetadata
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return badRequest("metadata: %s", strings.TrimPrefix(jsonError(err).Error(), "the body "))
	}
	req.slot, req.patch = m.Slot, m.settingsPatch
	switch c := bytes.TrimSpace(m.Config); {
	case len(c) == 0 || string(c) == "null":
	case c[0] == '"':
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return badRequest("metadata: config: %v", err)
		}
		req.patch.Config = &s
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, c); err != nil {
			return badRequest("metadata: config: %v", err)
		}
		req.patch.Config = ptr(buf.String())
	}
	return nil
}

func (a *admin) activatePlugin(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var body struct {
		Version json.RawMessage `json:"version"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		a.fail(w, r, jsonError(err))
		return
	}
	n, err := a.reg.resolveVersion(name, body.Version)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.reg.activate(r.Context(), name, n)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *admin) rollbackPlugin(w http.ResponseWriter, r *http.Request) {
	v, err := a.reg.rollback(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *admin) resumePlugin(w http.ResponseWriter, r *http.Request) {
	v, err := a.reg.resume(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *admin) deletePlugin(w http.ResponseWriter, r *http.Request) {
	v, err := a.reg.remove(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// minDigestPrefix is the fewest hex digits of a SHA-256 an activation may give.
const minDigestPrefix = 8

// resolveVersion reads an activation's "version": a number, or the SHA-256 (or a prefix
// of at least 8 hex digits) of a stored version's module, the newest of that module.
func (r *registry) resolveVersion(name string, raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, badRequest(`want {"version": <number or sha256>}`)
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, badRequest("version: want a number or a SHA-256, got %s", raw)
	}
	// Digits as long as a digest prefix are one: a digest may start with decimal digits.
	if v, err := strconv.Atoi(s); err == nil && len(s) < minDigestPrefix {
		return v, nil
	}
	s = strings.ToLower(strings.TrimPrefix(s, "sha256:"))
	if len(s) < minDigestPrefix || strings.Trim(s, "0123456789abcdef") != "" {
		return 0, badRequest("version %q: want a number, or a SHA-256 or a prefix of at least 8 hex digits", s)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.store == nil {
		return 0, opError(http.StatusServiceUnavailable, codeNoStore, "the gateway runs without a plugin store ([plugins] dir)")
	}
	sp := r.store.man.Plugins[name]
	if sp == nil {
		return 0, opError(http.StatusNotFound, codeNotFound, "no stored plugin %q", name)
	}
	found, shas := 0, map[string]bool{}
	for _, v := range sp.Versions {
		if strings.HasPrefix(v.SHA256, s) {
			found = max(found, v.Version)
			shas[v.SHA256] = true
		}
	}
	switch {
	case len(shas) == 0:
		return 0, opError(http.StatusNotFound, codeNotFound, "plugin %q has no version of module %s", name, s)
	case len(shas) > 1:
		return 0, opError(http.StatusConflict, codeConflict, "%s is a prefix of %d modules of plugin %q: give more of it", s, len(shas), name)
	}
	return found, nil
}
