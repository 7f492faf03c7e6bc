package main

type store struct{ urls map[string]string }
