package main

import (
	"log"
	"net/http"

	"example.com/billing/internal/api"
)

func main() {
	mux := http.NewServeMux()
	api.Register(mux)
	log.Fatal(http.ListenAndServe(":8080", mux))
}
