module github.com/example/shortener

go 1.24

toolchain go1.24.3

require github.com/go-chi/chi/v5 v5.2.0
