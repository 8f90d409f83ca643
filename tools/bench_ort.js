// ONNX Runtime peer for make bench: node tools/bench_ort.js MODEL.onnx INPUT.f32 SHAPE THREADS REPEAT [WARMUP [OUT.f32]]
// SHAPE is the input's dimensions joined by 'x' (1x3x256x256, 1x1x96x96x96). Prints "median_ms X", then
// "load_ms" (session creation) and "first_ms" (first run); OUT.f32 receives the first run's output.
// Graph optimisation 'all', CPU execution provider.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(process.env.ORT_NODE_MODULES || 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, input, shape, threads, repeat, warmup = '3', out] = process.argv.slice(2);
  const tl = process.hrtime.bigint();
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
  });
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, shape.split('x').map(Number));
  const loadMs = Number(process.hrtime.bigint() - tl) / 1e6;
  const times = [];
  let firstMs = 0;
  for (let i = 0; i < Number(warmup) + Number(repeat); i++) {
    const t0 = process.hrtime.bigint();
    const res = await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i === 0) {
      firstMs = ms;
      if (out) {
        const y = res[session.outputNames[0]].data;
        fs.writeFileSync(out, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
      }
    }
    if (i >= Number(warmup)) times.push(ms);
  }
  times.sort((a, b) => a - b);
  console.log('median_ms ' + times[Math.floor(times.length / 2)].toFixed(3));
  console.log('load_ms ' + loadMs.toFixed(3) + ' first_ms ' + firstMs.toFixed(3));
}

main().catch((e) => { console.error(e); process.exit(1); });
