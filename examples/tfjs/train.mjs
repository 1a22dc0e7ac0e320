// Trains a linear model with TensorFlow.js on a pipemode channel of RecordIO-protobuf records, the
// format SageMaker's built-in algorithms read. The same script reads the channel in Pipe, File or
// FastFile mode: openChannel takes the mode from $SAGEMAKER_BASE_DIR/input/config/inputdataconfig.json.
//
// Example only: @tensorflow/tfjs (pure JavaScript, from the npm registry) is not a dependency of
// pipemode; install it next to the example. See README.md here.
import * as tf from '@tensorflow/tfjs';
import { openChannel, decodeProtobufRecord } from 'pipemode/reader';

const epochs = Number(process.env.EPOCHS ?? 3);
const train = openChannel('train', { format: 'protobuf' });
console.log(`channel train: ${train.mode} mode, ${train.path}`);

// tf.data calls the generator once per pass over the data, i.e. once per training epoch, and
// nextEpoch() hands out pipemode's epochs in order: train_0, train_1, ... (or the folder again).
const dataset = tf.data
  .generator(async function* () {
    for await (const record of train.nextEpoch()) {
      const { features, label } = decodeProtobufRecord(record);
      yield { xs: features.values.float32Tensor.values, ys: label.values.float32Tensor.values };
    }
  })
  .map(({ xs, ys }) => ({ xs: tf.tensor1d(xs), ys: tf.tensor1d(ys) }))
  .batch(256);

const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })] });
model.compile({ optimizer: tf.train.adam(0.1), loss: 'meanSquaredError' });
await model.fitDataset(dataset, { epochs });
const [w, b] = model.getWeights().map((t) => t.dataSync());
console.log(`model: w1=${w[0].toFixed(3)} w2=${w[1].toFixed(3)} b=${b[0].toFixed(3)}  (true values: w1=3, w2=-2, b=0.5)`);
