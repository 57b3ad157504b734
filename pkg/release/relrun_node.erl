%% relrun_node: the program relrun-pod runs on the release's node, for both
%% backends. It is a sequence of Erlang expressions, not a module, so any BEAM
%% can run it with erl_scan, erl_parse and erl_eval (no compiler needed, no
%% Elixir needed to run it). relrun-pod embeds relrun_lang.erl and this file,
%% in that order, at build time.
%%
%% One binding comes in: Args, a proplist whose values were sent as base64
%% (binaries) or integers, never spliced into this text:
%%   mode          1 dist (we run in a rex worker; the reply is the value of
%%                 the program), 2 script (we run under `bin/app rpc`; the
%%                 reply is printed as marker lines on the rpc's output),
%%                 3 user (we run under a relx release's `bin/app eval`, whose
%%                 erl_call prints nothing until the call returns: the marker
%%                 lines go to the node's user, the app's stdout, which
%%                 relrun-pod reads anyway)
%%   tag           the marker prefix only relrun-pod knows
%%   peer          the node whose going away stops the release (dist: the C
%%                 node; script: <<>>, the rpc's own node is used)
%%   expr          the task
%%   ready_expr    <<>> or an expression that must be truthy before the task
%%   lang          0 Elixir, 1 Erlang (the language of expr and ready_expr)
%%   ready_timeout how long the node may take to finish booting, ms
%%   poll_ms       how often to look again while it boots
%%   fast_stop     1: arm the stopper below; 0: relrun-pod stops the node with
%%                 SIGTERM (init:stop) itself
%%
%% What it does: waits until init:get_status() is {started, started} (and the
%% ready expression holds), arms a stopper, tells relrun-pod "ready" together
%% with the console format the node logs with, runs the task with the node's
%% user as group leader (so every log line appears once, in the app's format),
%% flushes the logger, writes "<tag> done" to the node's user (relrun-pod reads
%% the app's output up to that line before it reports the outcome), and
%% reports the outcome:
%%   {relrun_ok, Inspected, IsErrorTuple} | {relrun_exit, N, <<>>}
%%   | {relrun_raise, FormattedError} | {relrun_not_ready}
%% script mode prints "<tag> ready FORMAT64", "<tag> result ok|error TEXT64",
%% "<tag> exit N", "<tag> raise TEXT64" or "<tag> not-ready" instead.

%% (Arg, Lang, Eval, Inspect, FormatError and Cut come from relrun_lang.erl,
%% which the embedded text starts with.)
Mode = Arg(mode),
Tag = Arg(tag),
Gl0 = group_leader(),
%% The nodes whose going away stops the release: the C node (dist), the rpc's
%% node (script), or in mode 3 the hidden nodes connected now, erl_call's
%% among them (its name is made on the node: nothing to tell it by), so the
%% release stops once every one of them is gone, never while erl_call waits.
Peers = case Arg(peer) of
            <<>> when Mode =:= 3 -> nodes(hidden);
            <<>> -> [node(Gl0)];
            P -> [binary_to_atom(P, utf8)]
        end,
Deadline = erlang:monotonic_time(millisecond) + Arg(ready_timeout),

Up = fun() ->
             init:get_status() =:= {started, started} andalso
                 case Arg(ready_expr) of
                     <<>> -> true;
                     R -> try not lists:member(Eval(R), [false, nil])
                          catch _:_ -> false
                          end
                 end
     end,
Wait = fun Loop() ->
               case Up() of
                   true -> ok;
                   false ->
                       case erlang:monotonic_time(millisecond) >= Deadline of
                           true -> timeout;
                           false -> timer:sleep(Arg(poll_ms)), Loop()
                       end
               end
       end,

%% The console format the node logs with, as relrun-pod's --app-format takes
%% it, and whether its times are UTC: {FormatString, MetadataKeys, Utc}.
%% Elixir >= 1.15 and Erlang: the default logger handler's formatter;
%% Elixir 1.14: the :console backend's configuration.
Utc = application:get_env(stdlib, utc_log) =:= {ok, true}
    orelse application:get_env(logger, utc_log) =:= {ok, true},
ToBin = fun(F) when is_binary(F) -> F;
           (F) when is_list(F) ->
                case io_lib:printable_unicode_list(F) of
                    true -> unicode:characters_to_binary(F);
                    false -> <<>>
                end;
           (_) -> <<>>
        end,
ElixirPattern = fun(Pattern) ->
                        %% Logger.Formatter's compiled pattern: binaries and atoms
                        iolist_to_binary(
                          [case X of
                               A when is_atom(A) -> [<<"$">>, atom_to_binary(A, utf8)];
                               B when is_binary(B) -> B;
                               _ -> <<>>
                           end || X <- Pattern])
                end,
ErlangTemplate = fun(T) ->
                         iolist_to_binary(
                           [case X of
                                time -> <<"$erltime">>;
                                level -> <<"$level">>;
                                msg -> <<"$message">>;
                                K when is_atom(K) -> [<<"$meta:">>, atom_to_binary(K, utf8)];
                                [K] when is_atom(K) -> [<<"$meta:">>, atom_to_binary(K, utf8)];
                                %% {Key, IfSet, Else}: the value (or the else text) there
                                {K, _, _} when is_atom(K) ->
                                    [<<"$meta:">>, atom_to_binary(K, utf8)];
                                {[K | _], _, _} when is_atom(K) ->
                                    [<<"$meta:">>, atom_to_binary(K, utf8)];
                                S when is_list(S) -> ToBin(S);
                                B when is_binary(B) -> B;
                                _ -> <<>>
                            end || X <- T])
                 end,
Console = fun() ->
                  Handler = try logger:get_handler_config(default) of
                                {ok, H} -> H;
                                _ -> #{}
                            catch _:_ -> #{}
                            end,
                  {Mod, FConf} = maps:get(formatter, Handler, {none, #{}}),
                  case Mod of
                      'Elixir.Logger.Formatter' ->
                          %% {Logger.Formatter, %Logger.Formatter{template, metadata,
                          %% utc_log?, ...}} on >= 1.15; the template is compiled:
                          %% atoms and binaries
                          Pat = case FConf of
                                    #{template := Tp} -> ElixirPattern(Tp);
                                    #{format := Fm} when is_list(Fm) -> ElixirPattern(Fm);
                                    _ -> <<>>
                                end,
                          Meta = case FConf of
                                     #{metadata := Ms} when is_list(Ms) -> Ms;
                                     _ -> []
                                 end,
                          FUtc = case FConf of
                                     #{'utc_log?' := U} -> U =:= true;
                                     _ -> Utc
                                 end,
                          {Pat, Meta, FUtc};
                      logger_formatter ->
                          Tpl = maps:get(template, FConf, []),
                          FUtc = case maps:get(time_offset, FConf, "") of
                                     "Z" -> true;
                                     "UTC" -> true;
                                     _ -> Utc
                                 end,
                          {ErlangTemplate(Tpl), [], FUtc};
                      _ ->
                          %% Elixir 1.14: the :console backend
                          C = case application:get_env(logger, console) of
                                  {ok, L} when is_list(L) -> L;
                                  _ -> []
                              end,
                          LUtc = application:get_env(logger, utc_log) =:= {ok, true},
                          F = case proplists:get_value(format, C) of
                                  undefined -> <<"\n$time $metadata[$level] $message\n">>;
                                  Fm -> ToBin(Fm)
                              end,
                          M = case proplists:get_value(metadata, C, []) of
                                  Ms when is_list(Ms) -> Ms;
                                  _ -> []
                              end,
                          {F, M, LUtc}
                  end
          end,
%% Sent as "FORMAT64 UTC META..." so relrun-pod reads it with no term parser.
FormatLine = fun() ->
                     {F, M, U} = try Console() catch _:_ -> {<<>>, [], Utc} end,
                     Keys = [atom_to_binary(K, utf8) || K <- M, is_atom(K)],
                     iolist_to_binary(
                       lists:join(<<" ">>, [base64:encode(F),
                                            case U of true -> <<"utc">>; _ -> <<"local">> end
                                            | Keys]))
             end,

Flush = fun() ->
                catch 'Elixir.Logger':flush(),
                catch logger_std_h:filesync(default),
                case whereis(user) of
                    undefined -> ok;
                    User -> io:put_chars(User, [Tag, <<" done\n">>])
                end
        end,

%% When the peers go away (the call returned, or relrun-pod stopped), stop
%% the applications in reverse start order (which_applications/0 lists the
%% latest first) so their stop callbacks run, logging kept to the end, then
%% halt: milliseconds instead of init:stop's second.
Keep = [kernel, stdlib, elixir, compiler, logger, sasl],
%% A node started with -heart: heart restarts the VM (HEART_COMMAND) when it
%% goes without init telling heart first, as halt does. Tell heart what init
%% tells it on a stop (heart's parent is init; it takes the exit as a plain
%% message): it shuts its port program down without a restart. Its command
%% made harmless first, in case a heart of another version ignores that.
StopHeart = fun() ->
                    case whereis(heart) of
                        undefined -> ok;
                        H ->
                            catch heart:set_cmd("true"),
                            Ref = erlang:monitor(process, H),
                            H ! {'EXIT', whereis(init), shutdown},
                            receive {'DOWN', Ref, _, _, _} -> ok
                            after 2000 -> ok
                            end
                    end
            end,
StopAll = fun() ->
                  StopHeart(),
                  [application:stop(A) || {A, _, _} <- application:which_applications(),
                                          not lists:member(A, Keep)],
                  catch 'Elixir.Logger':flush(),
                  catch logger_std_h:filesync(default),
                  erlang:halt(0)
          end,
Stopper = fun() ->
                  case whereis(user) of
                      undefined -> ok;
                      U -> group_leader(U, self())
                  end,
                  [erlang:monitor_node(N, true) || N <- Peers],
                  WaitDown = fun Down([]) -> StopAll();
                                 Down(Left) ->
                                     receive
                                         {nodedown, N} -> Down(lists:delete(N, Left))
                                     end
                             end,
                  WaitDown(Peers)
          end,

%% One write per marker line: relrun-pod reads the app's stdout a write at a
%% time, so in mode 3 a marker never shares a read with a log line.
Say = fun(Words) ->
              Line = iolist_to_binary([lists:join(<<" ">>, [Tag | Words]), $\n]),
              case Mode of
                  3 -> io:put_chars(whereis(user), Line);
                  _ -> io:put_chars(Gl0, Line)
              end
      end,
Reply = fun(Out) when Mode =:= 1 -> Out;
           ({relrun_ok, T, E}) ->
                Say([<<"result">>, case E of true -> <<"error">>; false -> <<"ok">> end,
                     base64:encode(T)]);
           ({relrun_exit, N, _}) -> Say([<<"exit">>, integer_to_binary(N)]);
           ({relrun_raise, T}) -> Say([<<"raise">>, base64:encode(T)]);
           ({relrun_not_ready}) -> Say([<<"not-ready">>])
        end,

Run = fun() ->
              case Arg(fast_stop) of
                  1 when Peers =/= [] -> spawn(Stopper);
                  _ -> ok
              end,
              case Mode of
                  1 -> {relrun, hd(Peers)} ! {relrun_ready, FormatLine()};
                  _ -> Say([<<"ready">>, FormatLine()])
              end,
              case whereis(user) of
                  undefined -> ok;
                  U -> group_leader(U, self())
              end,
              Out = try Eval(Arg(expr)) of
                        V ->
                            Flush(),
                            {relrun_ok, Cut(Inspect(V), 4100),
                             case V of {error, _} -> true; _ -> false end}
                    catch
                        exit:{shutdown, N} when is_integer(N) ->
                            Flush(),
                            {relrun_exit, N, <<>>};
                        Kind:Reason:Stack ->
                            Flush(),
                            {relrun_raise, Cut(FormatError(Kind, Reason, Stack), 6000)}
                    end,
              group_leader(Gl0, self()),
              Reply(Out)
      end,

case Wait() of
    timeout -> Reply({relrun_not_ready});
    ok -> Run()
end.
