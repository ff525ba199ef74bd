import { Ctx, Query, Resolver } from 'type-graphql';
import { Organization } from './organization.type';
import type { GatewayContext } from '../graphql/context';

@Resolver(() => Organization)
export class OrganizationResolver {
  @Query(() => Organization, { description: 'The organization that owns the API key of this request.' })
  organization(@Ctx() ctx: GatewayContext<unknown, { organization: Organization }>): Organization {
    // Authentication already read the organization in the same query as the key.
    return ctx.org.organization;
  }
}
