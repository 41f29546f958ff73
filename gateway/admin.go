package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// admin is the admin API: plugin upload and lifecycle (admin_plugins.go) and the
// gateway's status, on a listener of its own ([admin] listen), every route behind a
// bearer token with the route's scope.
type admin struct {
	log    *slog.Logger
	reg    *registry
	mux    *http.ServeMux
	tokens []adminToken
	status func() any // GET /v1/status's answer
	// maxModule is [plugins] max_module_size, copied: a reload replaces reg.cfg under
	// the registry's lock, which an upload's read must not wait for.
	maxModule int64
	// maxUpload bounds an upload's body: the module size limit, plus room for the
	// multipart framing and metadata.
	maxUpload int64
	// consumerOps makes PUT and DELETE /v1/consumers/{group} one at a time: each changes
	// what runs, then what is kept for the next start (consumers.json), and two
	// interleaved would leave the one out of step with the other.
	consumerOps sync.Mutex
}

// adminToken is a configured token, kept as its SHA-256 so that comparisons take the
// same time whatever the length of what a client sends.
type adminToken struct {
	name   string
	sum    [sha256.Size]byte
	scopes []string
}

// allows reports whether the token grants scope: named, "*", or the ":write" scope of the
// same resource for a ":read" one.
func (t *adminToken) allows(scope string) bool {
	for _, s := range t.scopes {
		if s == scope || s == ScopeAll {
			return true
		}
		if res, ok := strings.CutSuffix(scope, ":read"); ok && s == res+":write" {
			return true
		}
	}
	return false
}

// uploadOverhead is what an upload's body may hold beyond the module: multipart framing
// and the metadata part.
const uploadOverhead = 1 << 20

func newAdmin(cfg *Config, log *slog.Logger, reg *registry, status func() any) *admin {
	a := &admin{log: log, reg: reg, mux: http.NewServeMux(), status: status,
		maxModule: int64(cfg.Plugins.MaxModuleSize), maxUpload: int64(cfg.Plugins.MaxModuleSize) + uploadOverhead}
	for _, t := range cfg.Admin.Tokens {
		a.tokens = append(a.tokens, adminToken{name: t.Name, sum: sha256.Sum256([]byte(t.Token)), scopes: slices.Clone(t.Scopes)})
	}
	a.handle("GET /v1/plugins", ScopePluginsRead, a.listPlugins)
	a.handle("GET /v1/plugins/{name}", ScopePluginsRead, a.getPlugin)
	a.handle("PUT /v1/plugins/{name}", ScopePluginsWrite, a.putPlugin)
	a.handle("POST /v1/plugins/{name}/activate", ScopePluginsWrite, a.activatePlugin)
	a.handle("POST /v1/plugins/{name}/rollback", ScopePluginsWrite, a.rollbackPlugin)
	a.handle("POST /v1/plugins/{name}/resume", ScopePluginsWrite, a.resumePlugin)
	a.handle("DELETE /v1/plugins/{name}", ScopePluginsWrite, a.deletePlugin)
	a.handle("GET /v1/status", ScopeStatusRead, a.getStatus)
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no route " + r.Method + " " + r.URL.Path, Code: codeNotFound})
	})
	return a
}

// handle routes pattern to h behind the bearer token check for scope.
func (a *admin) handle(pattern, scope string, h http.HandlerFunc) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mqgate-admin"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: "missing bearer token: send Authorization: Bearer <token>", Code: codeUnauthorized})
			return
		}
		t := a.match(tok)
		if t == nil {
			a.log.Warn("gateway: admin: unknown token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="mqgate-admin", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: "unknown bearer token", Code: codeUnauthorized})
			return
		}
		if !t.allows(scope) {
			a.log.Warn("gateway: admin: token lacks the scope", "token", t.name, "scope", scope, "method", r.Method, "path", r.URL.Path)
			writeJSON(w, http.StatusForbidden, errorBody{Error: fmt.Sprintf("token %q lacks the scope %s", t.name, scope), Code: codeForbidden})
			return
		}
		a.log.Debug("gateway: admin: request", "token", t.name, "method", r.Method, "path", r.URL.Path)
		h(w, r)
	})
}

// bearer returns the request's bearer token.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// match returns the configured token tok is, comparing its digest with every token's in
// constant time (and every token, whichever matches).
func (a *admin) match(tok string) *adminToken {
	sum := sha256.Sum256([]byte(tok))
	var found *adminToken
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 {
			found = &a.tokens[i]
		}
	}
	return found
}

func (a *admin) getStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.status())
}

// fail answers an admin request with err.
func (a *admin) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, codeInternal
	var (
		re  *requestError
		mbe *http.MaxBytesError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &re):
		status, code = re.status, re.code
	case errors.As(err, &mbe):
		status, code = http.StatusRequestEntityTooLarge, codeTooLarge
		msg = fmt.Sprintf("the request body exceeds %d bytes", mbe.Limit)
	}
	if status >= 500 {
		a.log.Warn("gateway: admin: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	} else {
		a.log.Info("gateway: admin: request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", msg)
	}
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}
