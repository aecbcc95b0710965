// Package ecscheck validates Elastic Common Schema events against field
// definitions copied from the ECS reference (internal/analyze/testdata/
// ecs_fields.csv). It is for tests: the analyze package's and the sensor's
// both check the events they write with it.
package ecscheck
