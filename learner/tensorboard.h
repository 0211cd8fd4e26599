// TensorBoard event files (trainer.logger: [..., tensorboard]): the per-step metrics as scalar
// summaries, readable by TensorBoard and its event-file reader without TensorFlow.
//
// The file format, written by hand (it is small):
//   file    RUN_DIR/tensorboard/events.out.tfevents.<unix seconds>.<host>.<pid>  (TensorBoard finds
//           runs by the "tfevents" in the name; a resumed learner starts a new file beside the old)
//   records TFRecord framing, each record
//             uint64 len (little endian) | uint32 masked_crc32c(the 8 len bytes) | len bytes of data
//             | uint32 masked_crc32c(data),
//           masked_crc32c(x) = rotate_right(crc32c(x), 15) + 0xa282ead8 (CRC-32C: Castagnoli)
//   data    one tensorflow.Event protobuf: wall_time (1, double), step (2, int64 varint),
//           file_version (3, string; the first record, "brain.Event:2") or summary (5, Summary)
//           Summary: repeated value (1, Value); Value: tag (1, string), simple_value (2, float)
// Every record is one write(2) on an O_APPEND file, so a reader never sees half of one unless the
// disk fills (then the partial record is cut off again, as for metrics.jsonl).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int fd;           // -1 when closed
    char path[4200];
} TbWriter;

// CRC-32C of n bytes and its TFRecord mask.
uint32_t tb_crc32c(const void *data, size_t n);
uint32_t tb_masked_crc(uint32_t crc);

// Creates DIR (and parents) and a new event file in it holding the file_version record. 0, or -1 with err.
int tb_open(TbWriter *w, const char *dir, char *err, size_t errlen);
// One Event at STEP with a scalar summary of n (tag, value) pairs. 0, or -1 with err.
int tb_write_scalars(TbWriter *w, int64_t step, double wall_time, const char *const *tags, const double *vals, size_t n,
                     char *err, size_t errlen);
// The numbers of one metrics.jsonl line (see metrics_log.h) as one Event at the line's "step": every
// finite number except the step itself, nested objects flattened as "outer/inner". 0, or -1 with err.
int tb_write_metrics_line(TbWriter *w, const char *json_line, double wall_time, char *err, size_t errlen);
void tb_close(TbWriter *w);
