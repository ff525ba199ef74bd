import { Arg, Ctx, Field, ID, InterfaceType, Query, Resolver } from 'type-graphql';
import { GatewayContext, requirePrincipal } from './context';

/** Anything with a global id that `node(id)` can fetch. */
@InterfaceType({ description: 'An object with a global ID.' })
export abstract class Node {
  @Field(() => ID)
  id: string;
}

/** Looks an id up in one capability; null when that capability has no such id for the organization. */
export type NodeFetcher = (ctx: GatewayContext, organizationId: string, id: string) => Promise<Node | null>;

/** The fetchers of every capability with global ids; the composition root lists them (src/app/services.ts). */
type NodeContext = GatewayContext<{ nodeFetchers: readonly NodeFetcher[] }>;

@Resolver()
export class NodeResolver {
  @Query(() => Node, { nullable: true, description: "Any object by its ID; null when it is not the organization's." })
  async node(@Arg('id', () => ID) id: string, @Ctx() ctx: NodeContext): Promise<Node | null> {
    const { organizationId } = requirePrincipal(ctx);
    for (const fetch of ctx.services.nodeFetchers) {
      const found = await fetch(ctx, organizationId, id);
      if (found) return found;
    }
    return null;
  }
}
