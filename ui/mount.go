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
