package main

import (
	"database/sql"
	"log"

	_ "github.com/lib/pq"
)

func main() {
	if _, err := sql.Open("postgres", ""); err != nil {
		log.Fatal(err)
	}
}
