import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CareflowError, isCareflowError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';

/**
 * The one place an error becomes a response: `{ code, message, issues? }` with the status of the code in
 * core/errors.ts. Fastify's own request errors are mapped to careflow codes; anything unexpected is logged
 * and answered with a generic ERR_INTERNAL (never a stack trace, never the error's own message).
 */
export function toCareflowError(err: unknown, bodyLimitBytes: number): CareflowError | undefined {
  if (isCareflowError(err)) return err;
  switch ((err as Partial<FastifyError> | null)?.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new CareflowError(
        'ERR_API_BAD_JSON',
        'The request body is not valid JSON, or it uses a forbidden key (__proto__, constructor.prototype)',
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new CareflowError(
        'ERR_API_BAD_JSON',
        'The request body is empty but declared as JSON; send a JSON object or omit the Content-Type header',
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new CareflowError(
        'ERR_API_BODY_TOO_LARGE',
        `The request body is larger than ${bodyLimitBytes} bytes`,
      );
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new CareflowError('ERR_API_VALIDATION', 'The Content-Length header does not match the body');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new CareflowError('ERR_API_UNSUPPORTED_MEDIA_TYPE');
    case 'FST_ERR_NOT_FOUND':
      return new CareflowError('ERR_API_NOT_FOUND');
    case 'FST_ERR_BAD_URL':
      return new CareflowError('ERR_API_VALIDATION', 'The URL is not valid (bad percent-encoding)');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new CareflowError('ERR_API_VALIDATION', 'A path parameter is too long');
    default:
      return undefined;
  }
}

export function errorHandler(logger: Logger, bodyLimitBytes: number) {
  return function handleError(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const known = toCareflowError(err, bodyLimitBytes);
    if (known) {
      if (known.status >= 500)
        logger.error({ err, method: request.method, url: request.url }, 'request failed');
      else logger.debug({ code: known.code, method: request.method, url: request.url }, 'request refused');
      void reply.code(known.status).send(known.toJSON());
      return;
    }
    logger.error({ err, method: request.method, url: request.url }, 'request failed');
    void reply.code(500).send(new CareflowError('ERR_INTERNAL').toJSON());
  };
}

/** For errors fastify raises before routing (bad percent-encoding, over-long path parameter). */
export function frameworkErrorHandler(logger: Logger, bodyLimitBytes: number) {
  const handle = errorHandler(logger, bodyLimitBytes);
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void =>
    handle(err, request, reply);
}

/** For unknown routes (the `/api` scope registers its own, behind authentication). */
export function notFoundHandler(): never {
  throw new CareflowError('ERR_API_NOT_FOUND');
}
