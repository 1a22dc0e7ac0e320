/**
 * Answers to a caller that did something the API refuses (a missing resource, a duplicate name, a
 * bad field), with the exact error type and wording the SDKs, waiters and the SageMaker Python SDK
 * test for. Like SigV4 rejections these are answers, not pipemode failures, so they are not in the
 * error catalogue; a pipemode error that reaches the API is answered from its own HTTP mapping.
 *
 * Wording (SageMaker's): DescribeTrainingJob / DescribeTransformJob of a missing job →
 * ValidationException "Requested resource not found."; a missing model, config or endpoint →
 * ValidationException `Could not find model "<arn>".` (the Python SDK and the EndpointDeleted
 * waiter rely on "Could not find"); duplicates of jobs → ResourceInUse; duplicates of models,
 * configs, endpoints → ValidationException "Cannot create already existing …".
 */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

export const validation = (message: string): ApiError => new ApiError('ValidationException', message);

/** DescribeTrainingJob / StopTrainingJob / DescribeTransformJob of a job that does not exist. */
export const resourceNotFound = (): ApiError => new ApiError('ValidationException', 'Requested resource not found.');

/** A model, endpoint config or endpoint that does not exist (by ARN, as SageMaker words it). */
export const couldNotFind = (what: 'model' | 'endpoint configuration' | 'endpoint', arn: string): ApiError =>
  new ApiError('ValidationException', `Could not find ${what} "${arn}".`);

export const alreadyExists = (what: string, arn: string): ApiError =>
  new ApiError('ValidationException', `Cannot create already existing ${what} "${arn}".`);

export const resourceInUse = (message: string): ApiError => new ApiError('ResourceInUse', message);

export const resourceLimitExceeded = (message: string): ApiError => new ApiError('ResourceLimitExceeded', message);
