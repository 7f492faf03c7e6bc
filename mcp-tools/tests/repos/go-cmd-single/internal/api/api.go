package api

import "net/http"

func Register(mux *http.ServeMux) {
	mux.HandleFunc("/invoices", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("[]")) })
}
