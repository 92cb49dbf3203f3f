package ui

import (
	"net/http"
	"strings"
)

// IsUIPath reports whether an URL path belongs to the UI: the routes of
// Register (/, /ws, /ui/...) and of RegisterRuns (/runs, /runs/...).
func IsUIPath(p string) bool {
	return p == "/" || p == WSPath || strings.HasPrefix(p, "/ui/") ||
		p == RunsPrefix || strings.HasPrefix(p, RunsPrefix+"/")
}

// IsPublicPath reports whether an UI path is the page itself or its
// static assets: what a browser must load before it can ask for a token.
// Every other UI path (the feed, status, snapshot, fault proxy, stored
// runs) is data, which a node with tokens serves to the read role only.
func IsPublicPath(p string) bool {
	return p == "/" || strings.HasPrefix(p, LiveStaticPrefix+"/")
}

// Protect returns uiHandler with guard applied to every path but the
// public ones (IsPublicPath).
func Protect(uiHandler http.Handler, guard func(http.Handler) http.Handler) http.Handler {
	guarded := guard(uiHandler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsPublicPath(r.URL.Path) {
			uiHandler.ServeHTTP(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// Mount returns a handler that serves the UI's paths (IsUIPath) from
// uiHandler and every other path from api. It lets a server whose API
// router is closed to outsiders add the UI in front of it:
//
//	eng := gin.New()
//	live := ui.Register(eng, src)
//	ui.RegisterRuns(eng, storeDir) // optional
//	httpServer.Handler = ui.Mount(apiHandler, eng)
func Mount(api, uiHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsUIPath(r.URL.Path) {
			uiHandler.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
